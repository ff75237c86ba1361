"""Enclave's local OpenAI-compatible API: other programs on this computer use the loaded model.

Every request becomes a job on the one engine queue (app.core.engine.queue) with priority API,
so the window and the API share one engine and the person at the window always goes first; an
API client that disconnects cancels only its own job. Modules:

    schemas.py   the request bodies (what OpenAI's clients send)
    errors.py    OpenAI's error shape, and engine failures -> HTTP statuses with plain messages
    auth.py      the Bearer key: where it comes from, and the check
    bridge.py    tokens from the engine's worker thread to the asyncio response
    routes.py    the FastAPI app: /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings
    server.py    ApiServer: uvicorn on a background thread (the window) or blocking (the CLI)
"""
