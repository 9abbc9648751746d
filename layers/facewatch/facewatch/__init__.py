"""facewatch's domain package: the code of every Lambda, shipped as the layer.

One folder per concern, in a layer order (a folder imports only the folders below it; the
``[tool.importlinter]`` contracts in pyproject.toml enforce it, docs/architecture.md draws it):

    sampler | audit   the frame sampler (KVS images -> processor records); incident history,
                      lifecycle and the Slack buttons
    detections        processor records -> classified faces -> incidents -> pending alerts
                      (the face_events pipeline, its store, its adapters, rejects)
    fleet             inventory, camera registry, stream processors, watchdog, camera health,
                      employees
    alerts            the alert event, the bus publisher, the fan-out and its Slack and SMS
                      channels, snapshots, the operator view
    clips             KVS media clients, HLS session URLs, signed clip links, the clip player
    shared modules    settings, observability, web (HTTP replies), timestamps, lease,
                      aws_json (the Slack front door's stdlib AWS client) over aws_roots

Where the imports chose the grouping: the alert event sits in ``alerts`` below ``detections``
because the notifiers consume it without knowing how incidents are made; ``fleet`` sits above
``alerts`` because the registry carries the alert's camera location and the watchdog publishes
on the bus; the clip player takes an incident lookup (a protocol) instead of the audit history,
so clips stay at the bottom; ``timestamps`` is its own module because every layer formats times.
"""
