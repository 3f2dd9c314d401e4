{#- Upgrade a whole server group (see the docs' guide):
      salt-run state.orchestrate orch.vcd_upgrade pillar='<the vcd_upgrade pillar as JSON>'
    Pillar vcd_upgrade: cells (required: minion ids, or a target expression with tgt_type), version
    (required), backup (confirmed, or appliance: create-backup.sh on the primary), backup_completed
    (must be true with backup: confirmed), db_cell, install_sls, on_failure, health_timeout, timeout,
    cell_pillar, upgrade_id, ssh (the cells reached through salt-ssh), checksum (the installer's SHA-256),
    clock_tolerance, window_end, precheck (report, or strict: any failed check refuses the window),
    report_keep (the run reports kept in the master's cache). A key left out
    takes the vcd_upgrade.upgrade runner's default: none is written here. With test=True the run is the
    precheck's report (vcd_precheck.ready), touching nothing. #}
{%- set upgrade = salt['pillar.get']('vcd_upgrade', {}) %}
{%- set keys = ('tgt_type', 'backup', 'backup_completed', 'db_cell', 'install_sls', 'on_failure',
                'health_timeout', 'timeout', 'cell_pillar', 'upgrade_id', 'ssh', 'checksum',
                'clock_tolerance', 'window_end', 'precheck', 'report_keep') %}

vcd_upgrade:
{%- if opts.get('test') %}
  {#- A dry run shows the precheck's report: what the window would meet, touching nothing. #}
  vcd_precheck.ready:
    - precheck: vcd_upgrade.precheck
{%- else %}
  salt.runner:
    - name: vcd_upgrade.upgrade
{%- endif %}
    - cells: {{ upgrade.get('cells') | json }}
    - version: {{ upgrade.get('version') | json }}
{%- for key in keys if key in upgrade %}
    - {{ key }}: {{ upgrade[key] | json }}
{%- endfor %}
