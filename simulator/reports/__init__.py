"""Reports of schedules and simulations: the schedule map (Fig. 12, 13, 15), the Table VII sweep
and its Fig. 16-18, a traced simulation's Chrome trace and Gantt chart, and a training run's curves.

Plot functions return a `matplotlib.figure.Figure` and leave pyplot and the backend alone;
the caller saves or shows the figure (the CLI writes it atomically).
"""
from .gantt import plot_gantt
from .schedule_map import plot_schedule
from .sweep import SweepPoint, SweepRecords, SweepRow, on_paper_grid, sweep, sweep_experiment, sweep_points, table_vii
from .sweep_figures import plot_sweep, skipped_figures
from .trace import trace_events
from .training_curves import plot_training

__all__ = ["SweepPoint", "SweepRecords", "SweepRow", "on_paper_grid", "plot_gantt", "plot_schedule", "plot_sweep",
           "plot_training", "skipped_figures", "sweep", "sweep_experiment", "sweep_points", "table_vii", "trace_events"]
