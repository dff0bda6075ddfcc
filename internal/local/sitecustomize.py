# Loaded by the Python interpreter of the moto_server that the avatar-pipeline
# local stack starts: the stack puts this file's directory first on that
# process's PYTHONPATH and sets AVATAR_LOCAL_MOTO=1; without that variable this
# file does nothing. It makes three changes:
#
# 1. A watchdog: the process exits as soon as its standard input reaches end of
#    file, that is when the Go process that started it has gone, however it
#    went (even SIGKILL), so no moto_server is ever orphaned.
#
# 2. A fix for moto issue #10077 (fixed upstream by pull request #10093, not in
#    moto 5.2.1): with Step Functions execution on, every StartExecution after
#    the first failed with "cannot pickle '_thread.RLock' object", because the
#    snapshot of the state machine taken for a new execution deep-copied the
#    running executions (and, through the backend, every other state machine's).
#    The snapshot now shares the backend and starts with no executions, as the
#    upstream fix does. Versions of moto that changed this code are left alone.
#
# 3. Two caches, for speed alone: moto 5.2.1 lists its own package directory on
#    every request (moto.backends.list_of_moto_modules, under a lock that every
#    request takes), and its Step Functions interpreter builds a new JSONPath
#    parser, LALR tables included, for every path it evaluates. Sampled during
#    a 60-upload burst, the two took most of moto's one busy core. The module
#    list is read once, and each path string is parsed once; a parsed path is
#    never changed by its use, so what moto computes is the same.
import os as _os

if _os.environ.get("AVATAR_LOCAL_MOTO") == "1":
    import sys as _sys
    import threading as _threading

    def _watch_stdin():
        try:
            while _sys.stdin.buffer.read(4096):
                pass
        finally:
            _os._exit(0)

    _threading.Thread(target=_watch_stdin, name="avatar-local-watchdog", daemon=True).start()

    import copy as _copy
    import types as _types

    try:
        from moto.stepfunctions.parser import models as _models
    except Exception:  # not a moto with the Step Functions parser
        _models = None

    if _models is not None and getattr(_models, "copy", None) is _copy:

        def _snapshot(obj, memo=None):
            memo = {} if memo is None else memo
            backend = getattr(obj, "backend", None)
            if backend is not None:
                memo[id(backend)] = backend
                for sm in getattr(backend, "state_machines", []):
                    memo[id(sm.executions)] = []
            if hasattr(obj, "executions"):
                memo[id(obj.executions)] = []
            return _copy.deepcopy(obj, memo)

        _models.copy = _types.SimpleNamespace(deepcopy=_snapshot, copy=_copy.copy)

    import functools as _functools

    try:
        import moto.backends as _backends
        from moto.stepfunctions.parser.asl.utils import json_path as _json_path
        from moto.stepfunctions.parser.asl.component.common.path import result_path as _result_path
    except Exception:  # a moto laid out otherwise: left as it is
        _backends = None

    if _backends is not None:
        _modules = tuple(_backends.list_of_moto_modules())
        _backends.list_of_moto_modules = lambda: _modules
        for _module in (_json_path, _result_path):
            if callable(getattr(_module, "parse", None)):
                _module.parse = _functools.lru_cache(maxsize=4096)(_module.parse)
