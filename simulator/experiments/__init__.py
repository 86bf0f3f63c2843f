"""Design-space exploration: grids of points run resumably on a process pool or a Dask cluster."""
from .grid import Experiment, Point, experiment_from_dict, load_experiment, point_key, point_seed
from .kinds import KINDS, PointKind, register
from .results import PointRecord, Status, read_results
from .runner import Outcome, run

__all__ = ["Experiment", "KINDS", "Outcome", "Point", "PointKind", "PointRecord", "Status", "experiment_from_dict",
           "load_experiment", "point_key", "point_seed", "read_results", "register", "run"]
