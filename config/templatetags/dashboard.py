from django import template

from config.selectors import dashboard_figures

register = template.Library()


@register.simple_tag(takes_context=True)
def moderator_dashboard(context):
    """Figures for the admin front page (see config.selectors.dashboard_figures)."""
    return dashboard_figures(user=context["request"].user)


@register.simple_tag
def beat_stale_sweepers():
    """Beat sweepers silent for more than three of their intervals (config/observability/beat.py)."""
    from config.observability.beat import sweeper_states, sweeper_tracking

    if sweeper_tracking() != "on":
        return []  # no beat (eager) or no shared cache to see it through
    try:
        return [state for state in sweeper_states() if state.stale]
    except Exception:  # the cache is down: readiness reports that; the admin page must still open
        return []
