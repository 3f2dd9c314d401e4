{#- Rolling maintenance of a server group, one batch of cells at a time (see the docs' guide):
      salt-run state.orchestrate orch.vcd_rolling pillar='<the vcd_rolling pillar as JSON>'
    Pillar vcd_rolling: cells (required: minion ids, or a target expression with tgt_type), batch,
    min_active, maintenance_sls, health_timeout, pause, timeout, cell_pillar, rollout_id, switchover
    (appliances), reboot, vcenter_reconnect, ssh (the cells reached through salt-ssh). A key left out takes the vcd_rolling.rollout runner's
    default: none is written here. #}
{%- set rolling = salt['pillar.get']('vcd_rolling', {}) %}
{%- set keys = ('tgt_type', 'batch', 'min_active', 'maintenance_sls', 'health_timeout', 'pause', 'timeout',
                'cell_pillar', 'rollout_id', 'switchover', 'reboot',
                'vcenter_reconnect', 'ssh') %}

vcd_rolling:
  salt.runner:
    - name: vcd_rolling.rollout
    - cells: {{ rolling.get('cells') | json }}
{%- for key in keys if key in rolling %}
    - {{ key }}: {{ rolling[key] | json }}
{%- endfor %}
