"""The HTTP service (``sequencer serve``): the library over HTTP for any language.

Needs the optional extra ``sequencer[service]`` (FastAPI and uvicorn).
"""
