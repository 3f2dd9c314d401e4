{#- Put this cell back into service: `salt 'cell1*' state.apply vcd.active`.
    Pillar vcd_cell:active (optional): health_timeout, force (bring back a cell another run's window
    holds). Left out, the vcd_cell.active state's default applies. #}
{%- set active = salt['pillar.get']('vcd_cell:active', {}) %}

vcd_cell_active:
  vcd_cell.active:
    - name: {{ grains['id'] }}
{%- for key in ('health_timeout', 'force') if key in active %}
    - {{ key }}: {{ active[key] | json }}
{%- endfor %}
