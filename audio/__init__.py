"""Audio and the realtime machinery under voxflow's flows, as packages by role.

    base        the clock, errors, the event hub, the stream registry (everyone may import it)
    dsp         PCM in memory: frames, formats, levels, pacing, the playback pipe, jitter buffer, codecs
    io          devices and files: microphone, speaker, audio files, tones, the stereo recorder
    speech      offline recognition and synthesis, the speech-probability scorer
    wire        the Realtime API's vocabulary: event names, session settings and objects, ids
    echo        echo cancellation, the echo guard, local barge-in
    transports  how a session reaches the service: WebRTC, WebSocket, secrets
    session     the client session core and the events front ends subscribe to
    server      the local Realtime server (``voxflow serve-realtime``)
    tokens      the token service (``voxflow serve-tokens``)

Each package's ``__init__`` says what it owns, what it may import and its public names;
``tests/core/test_layers.py`` enforces all three. Nothing here imports ``flow``, ``tui`` or ``textual``.
"""
