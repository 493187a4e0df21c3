"""Models of the campaigns app: campaigns, personalisation data sources and the message ledger."""

from .campaigns import (
    Campaign,
    CampaignStatus,
    CampaignStatusChange,
    LawfulBasis,
    ScheduleType,
    UnknownOutcomePolicy,
)
from .data_sources import DataSource
from .links import TrackedLink
from .messages import Message, MessageStatus, MessageStatusEvent, SkipReason
from .progress import CampaignProgressCount

__all__ = [
    "Campaign",
    "CampaignProgressCount",
    "CampaignStatus",
    "CampaignStatusChange",
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
