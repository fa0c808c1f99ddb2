from celery import shared_task

from bots.services import bots_state_prune


@shared_task(name="bots.prune", ignore_result=True)
def bots_state_prune_task() -> int:
    return bots_state_prune()
