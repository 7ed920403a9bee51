"""Start-up cost: every management command, web and worker process imports the recommender's
services, selectors, API and admin; only training needs the machine-learning libraries."""

import os
import subprocess
import sys

from django.conf import settings

TRAINING_LIBRARIES = ("surprise", "implicit", "sklearn", "scipy.sparse")


def test_django_start_up_with_the_recommender_loaded_imports_no_training_library():
    code = (
        "import sys, django; django.setup();"
        "import recommender.services, recommender.selectors, recommender.api, recommender.admin;"
        "import recommender.management.commands.retrain_recommender;"
        "import recommender.management.commands.evaluate_recommender;"
        "import recommender.management.commands.export_recommendations;"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        f"print(','.join(name for name in {TRAINING_LIBRARIES!r} if name in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""
