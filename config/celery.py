"""The Celery app. Configuration comes from Django settings under the CELERY_ namespace.

Starting a worker imports no training library (tests/config/test_startup_imports.py): each pool
process imports the forecasting or recommender engine when its first task of that kind runs.
"""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("shop_intelligence")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def limit_math_threads(**_):
    """Cap each pool process's BLAS/OpenMP threads (default 1).

    A worker runs one process per core; if every process also starts a thread per core for
    numpy/scipy/statsmodels, they fight over the same cores and two processes end up slower
    than one (measured: a forecast run took 372 s with two processes against 95 s with one).
    """
    from django.conf import settings
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=settings.PIPELINE["THREADS_PER_PROCESS"])
