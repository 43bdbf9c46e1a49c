"""What a run records about the settings and software that determine its numbers."""


def run_metadata():
    """What results files record about the software and settings that produced them."""
    from .. import backend

    return {"floatX": backend.floatX, "device": backend.device, "versions": backend.versions()}


def numbers_settings(engine, batch_size):
    """What determines a run's numbers besides its configuration: the float type, the device, the engine
    that runs the steps and its own settings, and the versions of the software that computes them.
    A resumed run must have the same (a checkpoint is refused otherwise, naming what differs)."""
    from .. import backend

    return {"floatX": backend.floatX, "device": backend.device, "resolved_engine": engine.name,
            **engine.determinants(batch_size), "versions": backend.versions()}
