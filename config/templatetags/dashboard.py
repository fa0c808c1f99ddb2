from django import template

from config.selectors import dashboard_figures

register = template.Library()


@register.simple_tag(takes_context=True)
def moderator_dashboard(context):
    """Figures for the admin front page (see config.selectors.dashboard_figures)."""
    return dashboard_figures(user=context["request"].user)
