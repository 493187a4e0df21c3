"""Models of the campaigns app: campaigns, data sources, the message ledger and conversions."""

from .campaigns import (
    Campaign,
    CampaignStatus,
    CampaignStatusChange,
    LawfulBasis,
    ScheduleType,
    UnknownOutcomePolicy,
)
from .conversions import Conversion
from .data_sources import DataSource
from .links import TrackedLink
from .messages import Message, MessageStatus, MessageStatusEvent, SkipReason
from .progress import CampaignProgressCount

__all__ = [
    "Campaign",
    "CampaignProgressCount",
    "CampaignStatus",
    "CampaignStatusChange",
    "Conversion",
    "DataSource",
    "LawfulBasis",
    "Message",
    "MessageStatus",
    "MessageStatusEvent",
    "ScheduleType",
    "SkipReason",
    "TrackedLink",
    "UnknownOutcomePolicy",
]
