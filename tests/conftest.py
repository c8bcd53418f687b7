"""Suite-wide settings: quiet gRPC's C core, whose info lines otherwise reach the terminal."""

import os

# gRPC's C core logs connection teardown ("Got goaway ... http2_error") at info level when the
# in-process VectorAI server stops; it is noise, and it must be set before grpc is imported.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
