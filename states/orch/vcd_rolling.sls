{#- Rolling maintenance of a server group, one batch of cells at a time (worked example in the README):
      salt-run state.orchestrate orch.vcd_rolling pillar='<the vcd_rolling pillar as JSON>'
    Pillar vcd_rolling: cells (required: minion ids, or a target expression with tgt_type), batch (1),
    min_active (1), maintenance_sls, health_timeout (600), pause (0), timeout (7200), cell_pillar,
    rollout_id. See the vcd_rolling runner for each. #}
{%- set rolling = salt['pillar.get']('vcd_rolling', {}) %}

vcd_rolling:
  salt.runner:
    - name: vcd_rolling.rollout
    - cells: {{ rolling.get('cells') | json }}
    - tgt_type: {{ rolling.get('tgt_type', 'glob') | json }}
    - batch: {{ rolling.get('batch', 1) | json }}
    - min_active: {{ rolling.get('min_active', 1) | json }}
    - maintenance_sls: {{ rolling.get('maintenance_sls') | json }}
    - health_timeout: {{ rolling.get('health_timeout', 600) | json }}
    - pause: {{ rolling.get('pause', 0) | json }}
    - timeout: {{ rolling.get('timeout', 7200) | json }}
    - cell_pillar: {{ rolling.get('cell_pillar') | json }}
    - rollout_id: {{ rolling.get('rollout_id') | json }}
