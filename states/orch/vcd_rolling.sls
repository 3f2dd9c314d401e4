{#- Rolling maintenance of a server group, one batch of cells at a time (see the docs' guide):
      salt-run state.orchestrate orch.vcd_rolling pillar='<the vcd_rolling pillar as JSON>'
    Pillar vcd_rolling: cells (required: minion ids, or a target expression with tgt_type), batch,
    min_active, maintenance_sls, health_timeout, pause, timeout, cell_pillar, rollout_id, switchover
    (appliances), reboot, vcenter_reconnect, ssh (the cells reached through salt-ssh), clock_tolerance,
    window_end, precheck (report, or strict: any failed check refuses the window), report_keep (the
    run reports kept in the master's cache). A key left out takes the
    vcd_rolling.rollout runner's default: none is written here. With test=True the run is the
    precheck's report (vcd_precheck.ready), touching nothing. #}
{%- set rolling = salt['pillar.get']('vcd_rolling', {}) %}
{%- set keys = ('tgt_type', 'batch', 'min_active', 'maintenance_sls', 'health_timeout', 'pause', 'timeout',
                'cell_pillar', 'rollout_id', 'switchover', 'reboot',
                'vcenter_reconnect', 'ssh', 'clock_tolerance', 'window_end', 'precheck', 'report_keep') %}

vcd_rolling:
{%- if opts.get('test') %}
  {#- A dry run shows the precheck's report: what the window would meet, touching nothing. #}
  vcd_precheck.ready:
    - precheck: vcd_rolling.precheck
{%- else %}
  salt.runner:
    - name: vcd_rolling.rollout
{%- endif %}
    - cells: {{ rolling.get('cells') | json }}
{%- for key in keys if key in rolling %}
    - {{ key }}: {{ rolling[key] | json }}
{%- endfor %}
