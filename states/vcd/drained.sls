{#- Drain this cell and shut it down: `salt 'cell1*' state.apply vcd.drained`.
    Pillar vcd_cell:drain (all optional): timeout, interval, on_timeout, cancel_grace, maintenance_message,
    lease, vcenter_reconnect, force (drain a cell another run's window holds). A key left out takes the
    vcd_cell.drained state's default: none is written here. #}
{%- set drain = salt['pillar.get']('vcd_cell:drain', {}) %}

vcd_cell_drained:
  vcd_cell.drained:
    - name: {{ grains['id'] }}
{%- set keys = ('timeout', 'interval', 'on_timeout', 'cancel_grace', 'maintenance_message', 'lease',
                'vcenter_reconnect', 'force') %}
{%- for key in keys if key in drain %}
    - {{ key }}: {{ drain[key] | json }}
{%- endfor %}
