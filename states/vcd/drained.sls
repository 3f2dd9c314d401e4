{#- Drain this cell and shut it down: `salt 'cell1*' state.apply vcd.drained`.
    Pillar vcd_cell:drain (all optional): timeout, interval, on_timeout, cancel_grace, maintenance_message, lease. #}
{%- set drain = salt['pillar.get']('vcd_cell:drain', {}) %}

vcd_cell_drained:
  vcd_cell.drained:
    - name: {{ grains['id'] }}
    - timeout: {{ drain.get('timeout', 3600) | json }}
    - interval: {{ drain.get('interval', 5) | json }}
    - on_timeout: {{ drain.get('on_timeout', 'fail') | json }}
    - cancel_grace: {{ drain.get('cancel_grace', 300) | json }}
    - maintenance_message: {{ drain.get('maintenance_message', False) | json }}
    - lease: {{ drain.get('lease', 900) | json }}
