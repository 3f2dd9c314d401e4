{#- Upgrade a whole server group (worked example in the README):
      salt-run state.orchestrate orch.vcd_upgrade pillar='<the vcd_upgrade pillar as JSON>'
    Pillar vcd_upgrade: cells (required: minion ids, or a target expression with tgt_type), version
    (required), backup_completed (must be true), db_cell, install_sls, on_failure (restore), health_timeout
    (600), timeout (7200), cell_pillar, upgrade_id. See the vcd_upgrade runner for each. #}
{%- set upgrade = salt['pillar.get']('vcd_upgrade', {}) %}

vcd_upgrade:
  salt.runner:
    - name: vcd_upgrade.upgrade
    - cells: {{ upgrade.get('cells') | json }}
    - version: {{ upgrade.get('version') | json }}
    - tgt_type: {{ upgrade.get('tgt_type', 'glob') | json }}
    - backup_completed: {{ upgrade.get('backup_completed', False) | json }}
    - db_cell: {{ upgrade.get('db_cell') | json }}
    - install_sls: {{ upgrade.get('install_sls') | json }}
    - on_failure: {{ upgrade.get('on_failure', 'restore') | json }}
    - health_timeout: {{ upgrade.get('health_timeout', 600) | json }}
    - timeout: {{ upgrade.get('timeout', 7200) | json }}
    - cell_pillar: {{ upgrade.get('cell_pillar') | json }}
    - upgrade_id: {{ upgrade.get('upgrade_id') | json }}
