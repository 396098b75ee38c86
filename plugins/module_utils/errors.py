# -*- coding: utf-8 -*-
# Copyright: (c) 2026, LLM Research Lab
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception type the collection's logic raises.

Modules catch it in ``main()`` and turn it into ``fail_json(msg=err.msg, **err.details)``, so
every failure reads the same way: what was wrong, and what was left untouched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class DeployError(Exception):
    """A failure to report to the user.

    ``msg`` is the whole sentence the user reads; ``details`` are extra return values (for
    example ``previous_selector`` or ``breaches``) that help them decide what to do next.
    """

    def __init__(self, msg, **details):
        super(DeployError, self).__init__(msg)
        self.msg = msg
        self.details = details

    def __str__(self):
        return self.msg
