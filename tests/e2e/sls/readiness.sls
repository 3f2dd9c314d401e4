{#- What vcd_cell.readiness reads on the cell, in a state run: the pillar given with it applies. #}
readiness:
  vcd_cell.call:
    - name: vcd_cell.readiness
