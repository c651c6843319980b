"""Appointments: the service catalog and the resources that deliver it (catalog), free slots
(availability), the schedule, bookings (booking) and recurring ones (series), changes to them
(changes), the resources' time off (time_off) and what was delivered and how it was rated
(delivery), over the models and views in models.

Times go out in the business time zone with their offset.
"""

from . import availability, booking, catalog, changes, delivery, schedule, series, time_off
from .booking import reminder_plan
from .models import appointments

__all__ = [
    "appointments",
    "availability",
    "booking",
    "catalog",
    "changes",
    "delivery",
    "reminder_plan",
    "schedule",
    "series",
    "time_off",
]
