{#- Put this cell back into service: `salt 'cell1*' state.apply vcd.active`.
    Pillar vcd_cell:active (optional): health_timeout. #}
{%- set active = salt['pillar.get']('vcd_cell:active', {}) %}

vcd_cell_active:
  vcd_cell.active:
    - name: {{ grains['id'] }}
    - health_timeout: {{ active.get('health_timeout', 600) | json }}
