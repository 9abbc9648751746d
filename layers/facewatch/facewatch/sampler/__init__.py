"""The frame sampler: face search from KVS frames with Rekognition Image, for accounts without
stream processors. It writes records in the stream processor's exact format, so everything
downstream (face_events, incidents, alerts) is the same for both detectors.

Modules: settings (configuration), frames (KVS GetImages), motion (the cheap change gate),
faces (DetectFaces + SearchFacesByImage per face), recordwriter (processor records to Kinesis),
checkpoint (per-camera progress and lease in DynamoDB), camera (one camera's cycle), run (one
invocation serving a group of cameras).
"""
