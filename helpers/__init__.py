"""The MWAA workbook's helpers: everything the notebooks call.

Notebooks stay narrative; the logic they need lives in the small modules of this package.
Only `helpers.aws.cloud` knows whether the target is the local cloud or a real AWS account.
"""

from helpers.errors import WorkbookError

__all__ = ["WorkbookError"]
