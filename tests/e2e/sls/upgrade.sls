{#- A stand-in for the upgrade, applied by the rolling tests as maintenance_sls: it records, on the
    cell host, whether the cell's service was running while its "upgrade" ran. #}
upgrade marker:
  file.managed:
    - name: {{ salt['pillar.get']('upgrade_marker_dir') }}/{{ grains['id'] }}
    - makedirs: true
    - contents: "cell running during the upgrade: {{ salt['vcd_cell.is_running']() }}"
