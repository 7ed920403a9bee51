"""Replay a window of a transactions file through the live shop: ``manage.py simulate_shop``."""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import asdict
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from pipeline import simulation as sim
from pipeline.models import Simulation
from pipeline.simulation_http import ApiClient, OwnServer

# The replayed shop is a wholesaler (lines of hundreds of units, many orders a minute from one
# address): its own server lifts the storefront's per-customer cap and the rate limits.
OWN_SERVER_ENV = {
    "SHOP_MAX_RESERVED_PER_PRODUCT": "1000000",
    "API_THROTTLE_ANON": "off",
    "API_THROTTLE_CUSTOMER": "off",
    "API_THROTTLE_ORDERS": "off",
}


class Command(BaseCommand):
    help = (
        "Replay --start..--end of a transactions file through the HTTP API, the workers and the buyer's "
        "loop, day by day; writes DIR/days.csv and DIR/summary.json. Run it again with the same "
        "--output-dir to resume an interrupted replay."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, help="transactions file (.xlsx, .csv(.gz), .parquet)")
        parser.add_argument("--start", type=date.fromisoformat, required=True)
        parser.add_argument("--end", type=date.fromisoformat, required=True, help="last replayed day")
        parser.add_argument("--service-level", type=float, default=0.95)
        parser.add_argument("--lead-time-days", type=int, default=7)
        parser.add_argument("--retrain-every", type=int, default=1, help="nights; 0 holds the start's policy")
        parser.add_argument("--recommender-every", type=int, default=7, help="nights; 0 never")
        parser.add_argument("--buyer", choices=["accept-all", "accept-unflagged"], default="accept-all")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--api-url", help="drive a running server (default: start one on a free port)")
        parser.add_argument("--output-dir", required=True, type=Path)

    def handle(self, *args, **o) -> None:
        if o["end"] < o["start"]:
            raise CommandError("--end must not be before --start.")
        if not 0 < o["service_level"] < 1:
            raise CommandError("--service-level must be between 0 and 1.")
        options = sim.Options(
            file=str(Path(o["file"]).resolve()),
            start=o["start"].isoformat(),
            end=o["end"].isoformat(),
            service_level=o["service_level"],
            lead_time_days=o["lead_time_days"],
            retrain_every=o["retrain_every"],
            recommender_every=o["recommender_every"],
            buyer=o["buyer"],
            seed=o["seed"],
            output_dir=str(o["output_dir"].resolve()),
        )
        log = self.stderr.write if o["verbosity"] >= 1 else (lambda message: None)
        if o["api_url"]:
            secret = settings.SHOP.get("PAYMENT_WEBHOOK_SECRET", "")
            if not secret:
                raise CommandError(
                    "--api-url needs SHOP_PAYMENT_WEBHOOK_SECRET, the server's, to sign payments."
                )
        else:
            secret = sim.new_secret()  # a new server each time: a resume signs with its own secret

        existing = Simulation.objects.filter(output_dir=options.output_dir).first()
        if existing is not None and existing.status == Simulation.Status.FINISHED:
            raise CommandError(
                f"{options.output_dir} holds a finished simulation (#{existing.pk}); pick another."
            )
        if existing is not None and existing.options != asdict(options):
            raise CommandError(
                f"Simulation #{existing.pk} in {options.output_dir} was started with other options: "
                f"{existing.options}"
            )

        # A polite kill (SIGTERM) stops like Ctrl-C: the day's state is kept and the server stopped.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)
        plan = sim.plan_file(options.file)
        events = sim.window_events(plan, options.start_day, options.end_day)
        server = None
        try:
            if existing is None:
                log("set-up: importing history, supply terms, logins, the start's forecast and stock")
                simulation = sim.Replay.set_up(options=options, plan=plan, log=log)
            else:
                simulation = existing
                log(f"resuming simulation #{simulation.pk}")
            if o["api_url"]:
                url = o["api_url"]
            else:
                server = OwnServer(secret=secret, extra_env=OWN_SERVER_ENV)
                server.wait_ready()
                url = server.url
            log(f"API: {url}")
            client = ApiClient(url)
            with tqdm(total=len(events), unit="invoice", file=sys.stderr, disable=o["verbosity"] == 0) as bar:
                replay = sim.Replay(
                    simulation=simulation,
                    client=client,
                    secret=secret,
                    plan=plan,
                    progress=bar.update,
                    log=log,
                )
                try:
                    replay.run(events)
                finally:
                    replay.account_wall_time()
                    client.close()
        except sim.SimulationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if server is not None:
                server.stop()
        summary = sim.summarise(simulation)
        simulation.summary = summary
        simulation.status = Simulation.Status.FINISHED
        simulation.finished_at = timezone.now()
        simulation.save(update_fields=["summary", "status", "finished_at"])
        sim.write_outputs(simulation, summary)
        for key, value in summary.items():
            self.stdout.write(f"{key}: {value}")
        self.stdout.write(f"Wrote {Path(simulation.output_dir) / 'days.csv'} and summary.json")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
