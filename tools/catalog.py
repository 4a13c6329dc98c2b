"""The built-in tool set: the demo ERP, CRM, payments and mail systems.

Kept in one place so the platform, the offline model and the tests agree on exactly
which tool names exist; installations add their own adapters to the registry after.
"""

from __future__ import annotations

from tools.crm.adapters import TOOLS as CRM_TOOLS
from tools.erp.adapters import TOOLS as ERP_TOOLS
from tools.mail.adapters import TOOLS as MAIL_TOOLS
from tools.payments.adapters import TOOLS as PAYMENTS_TOOLS
from tools.registry import ToolRegistry
from tools.spec import RegisteredTool


def builtin_tools() -> list[RegisteredTool]:
    return [*ERP_TOOLS, *CRM_TOOLS, *PAYMENTS_TOOLS, *MAIL_TOOLS]


def default_registry() -> ToolRegistry:
    return ToolRegistry(builtin_tools())
