"""How the window shows what the organisation has set (app/core/policy.py): a lock and one
sentence. `PolicySection` lists every key in force for Settings; `lock_note` is the one-line
note a locked control carries where it stands (the offline switch, the server, the API)."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from app.core.i18n import translate, translate_noop
from app.core.policy import Policy, current_policy
from app.core.policy_rules import explain
from app.ui.notice_bar import NoticeBar

LOCK = "🔒"
# The keys as a person reads them (the files and the CLI use the key names).
KEY_LABELS = {
    "offline_only": translate_noop("policy_view", "Internet"),
    "allow_downloads": translate_noop("policy_view", "Downloads"),
    "allowed_models": translate_noop("policy_view", "Models allowed"),
    "models_folder": translate_noop("policy_view", "Organisation's models folder"),
    "allowed_servers": translate_noop("policy_view", "Company servers"),
    "allow_api": translate_noop("policy_view", "Local API"),
    "api_hosts": translate_noop("policy_view", "API addresses"),
    "default_model": translate_noop("policy_view", "Default model"),
    "default_preset": translate_noop("policy_view", "Default preset"),
    "keep_history": translate_noop("policy_view", "Chat history"),
}


def download_block_reason(policy: Policy | None = None) -> str:
    """Why the organisation does not let this computer download models ("" when it does)."""
    from app.core.net.errors import DownloadsOffError, PolicyOfflineError

    policy = policy if policy is not None else current_policy()
    if policy.forces_offline:  # the network gate's own sentences (app/core/net/errors.py)
        return str(PolicyOfflineError())
    if policy.forbids_downloads:
        return str(DownloadsOffError())
    return ""


POLICY_PROBLEM_NOTICE = translate_noop(
    "policy_view",
    "Your organisation's policy for Enclave could not be read in full, so Enclave uses its "
    "strictest settings until IT fixes it. Settings says what is wrong.",
)


def show_policy_problems(notice: NoticeBar, open_settings: Callable[[], None]) -> None:
    """At start: a policy Enclave could not read is said at once, not only in Settings."""
    if current_policy().problems:
        notice.show_message(
            translate("policy_view", POLICY_PROBLEM_NOTICE),
            "warning",
            [(translate("policy_view", "Open Settings"), open_settings)],
        )


def lock_note(text: str, parent: QWidget | None = None) -> QLabel:
    """A lock and one sentence beside a control the organisation has set."""
    label = QLabel(f"{LOCK} {text}", parent)
    label.setObjectName("policyLock")
    label.setWordWrap(True)
    label.setAccessibleName(text)
    return label


class PolicySection(QFrame):
    """Settings' "Set by your organisation": each key in force, and any problem reading it."""

    def __init__(self, policy: Policy | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("policySection")
        self.rows: dict[str, QLabel] = {}
        self.problem_labels: list[QLabel] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(6)
        self.title = QLabel(translate("policy_view", "{lock} Set by your organisation").format(lock=LOCK))
        self.title.setObjectName("modelsSection")
        layout.addWidget(self.title)
        intro = QLabel(
            translate("policy_view", "Your IT department has set these. You cannot change them here.")
        )
        intro.setObjectName("modelsHint")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self._layout = layout
        self.show_policy(policy if policy is not None else current_policy())

    def show_policy(self, policy: Policy) -> None:
        for label in [*self.rows.values(), *self.problem_labels]:
            self._layout.removeWidget(label)
            label.deleteLater()
        self.rows.clear()
        self.problem_labels = []
        for problem in policy.problems:
            label = QLabel(f"⚠ {escape(problem)}")
            label.setObjectName("policyProblem")
            label.setWordWrap(True)
            self._layout.addWidget(label)
            self.problem_labels.append(label)
        for item in explain(policy):
            name = translate("policy_view", KEY_LABELS[item.key]) if item.key in KEY_LABELS else item.key
            label = QLabel(
                translate("policy_view", "{lock} <b>{setting}</b>: {value}. {explanation}").format(
                    lock=LOCK,
                    setting=escape(name),
                    value=escape(item.value),
                    explanation=escape(item.sentence),
                )
            )
            label.setObjectName("policyRow")
            label.setWordWrap(True)
            label.setToolTip(
                translate("policy_view", "{key}, set in {source}").format(key=item.key, source=item.source)
            )
            label.setAccessibleName(
                translate("policy_view", "{setting}: {value}. {explanation}").format(
                    setting=name, value=item.value, explanation=item.sentence
                )
            )
            self._layout.addWidget(label)
            self.rows[item.key] = label
        self.setVisible(bool(self.rows or self.problem_labels))
