"""The console's two languages: English and Chinese, each page's words and each error code's
message in both.

The language is the `hushan_lang` cookie (set by the switch on every page), else the first of
the browser's Accept-Language that the console speaks, else English. An error code without a
message here is shown with the engine's own message (the API's), which is English or already
bilingual; the codes a console page can meet are all here.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("en", "zh")
DEFAULT = "en"

# (English, Chinese) of each word or phrase a page shows.
WORDS: Final[dict[str, tuple[str, str]]] = {
    "title": ("hushan console", "hushan 控制台"),
    "skip": ("Skip to content", "跳到正文"),
    "language": ("Language", "语言"),
    "switch": ("Switch", "切换"),
    "sign_in": ("Sign in", "登录"),
    "sign_in_intro": (
        "Sign in with your token, as your app holds it, or open a login link your app gave you.",
        "使用应用中的令牌登录，或打开应用给你的登录链接。",
    ),
    "token": ("Token", "令牌"),
    "link_intro": ("Signing you in with the login link…", "正在使用登录链接登录……"),
    "link_missing": ("This login link holds no token.", "此登录链接不含令牌。"),
    "continue": ("Continue", "继续"),
    "sign_out": ("Sign out", "退出登录"),
    "signed_in_as": ("Signed in as", "当前用户"),
    "nav": ("Pages", "页面"),
    "contacts": ("Contacts", "联系人"),
    "notices": ("Notices", "通知"),
    "proposals": ("Mutual delete", "双向删除"),
    "residue": ("Data residue", "数据残留"),
    "certificates": ("Certificates", "删除证明"),
    "account": ("Account", "账户"),
    "none": ("Nothing here yet.", "暂无内容。"),
    "user": ("User", "用户"),
    "name": ("Name", "名称"),
    "added": ("Added", "添加时间"),
    "tags": ("Tags", "标签"),
    "layer": ("Layer", "分组"),
    "layer_full": ("full", "完整"),
    "layer_chat_only": ("chat only", "仅聊天"),
    "kind": ("What", "类型"),
    "about": ("About", "对象"),
    "when": ("When", "时间"),
    "detail": ("Detail", "详情"),
    "read": ("Read", "已读"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "mark_read": ("Mark all read", "全部标为已读"),
    "incoming": ("Proposed to you", "收到的提议"),
    "outgoing": ("Your proposals", "你发起的提议"),
    "propose": ("Propose a mutual delete", "发起双向删除"),
    "to": ("To (user id)", "对方（用户 ID）"),
    "message": ("Message", "附言"),
    "remove_anyway": (
        "Remove them from my contacts anyway if they decline or let it expire",
        "若对方拒绝或过期未答，仍将其从我的联系人中移除",
    ),
    "send": ("Send", "发送"),
    "status": ("Status", "状态"),
    "expires": ("Expires", "过期时间"),
    "accept": ("Accept", "同意"),
    "decline": ("Decline", "拒绝"),
    "withdraw": ("Withdraw", "撤回"),
    "state": ("State", "状态"),
    "purge_at": ("Purge date", "清除日期"),
    "key_destroyed_at": ("Key destroyed", "密钥销毁时间"),
    "rows_purged_at": ("Rows purged", "数据行清除时间"),
    "devices_pending": ("Devices yet to confirm the purge", "尚未确认清除的设备"),
    "platforms_pending": ("Linked platforms yet to confirm", "尚未确认的关联平台"),
    "legal_hold": ("Legal hold", "法律保全"),
    "residue_intro": (
        "Where each of your chat histories is, and who may still hold a copy.",
        "你的每段聊天记录所处的状态，以及可能仍持有副本的设备。",
    ),
    "request_certificate": ("Request a certificate", "申请删除证明"),
    "other_user": ("The other user (user id)", "对方（用户 ID）"),
    "legal_basis": ("Legal basis", "法律依据"),
    "disclose": (
        "Disclose both user ids in the certificate",
        "在证明中披露双方用户 ID",
    ),
    "download": ("Request and download", "申请并下载"),
    "verify_certificate": ("Verify a certificate", "验证删除证明"),
    "verify_intro": (
        "The check runs in this page (WebCrypto: Ed25519 and SHA-256) against the log's key"
        " below; the file is not sent anywhere.",
        "验证在本页面内完成（WebCrypto：Ed25519 与 SHA-256），使用下方的日志公钥；文件不会被上传。",
    ),
    "log_key": ("The log's public key", "日志公钥"),
    "certificate_file": ("Certificate file", "证明文件"),
    "verify": ("Verify", "验证"),
    "verify_ok": ("Valid certificate", "证明有效"),
    "verify_bad": ("Rejected", "证明无效"),
    "reason": ("Reason", "原因"),
    "export": ("Export my data", "导出我的数据"),
    "export_intro": (
        "Everything hushan holds about you, as one JSON file.",
        "hushan 保存的与你有关的全部数据，一个 JSON 文件。",
    ),
    "download_export": ("Download the export", "下载导出文件"),
    "erase": ("Erase my account", "注销账户"),
    "erase_intro": (
        "Your account goes at once and cannot come back; your histories are erased.",
        "账户将立即注销且无法恢复，你的聊天记录将被清除。",
    ),
    "erase_confirm": ("Type your user id to confirm", "输入你的用户 ID 以确认"),
    "erased": ("Your account was erased.", "你的账户已注销。"),
    "erasing": (
        "Your account is gone; its data is being erased.",
        "你的账户已注销，数据正在清除中。",
    ),
    "signed_out": ("You are signed out.", "你已退出登录。"),
    "error": ("Error", "错误"),
    "operator": ("Operator sign-in", "运维登录"),
    "operator_intro": (
        "The admin key, or the secret of a service credential with admin:read. The session"
        " keeps neither.",
        "管理员密钥，或具有 admin:read 权限的服务凭据密钥。会话不会保存它们。",
    ),
    "secret": ("Admin key or credential secret", "管理员密钥或凭据密钥"),
    "op_pair": ("Pair lookup", "关系查询"),
    "op_audit": ("Audit log", "审计日志"),
    "op_log": ("Transparency log", "透明日志"),
    "op_backlog": ("Backlog", "待办积压"),
    "op_webhooks": ("Webhooks", "Webhook 推送"),
    "op_metrics": ("Counters", "运行指标"),
    "metrics_intro": (
        "The counters of /metrics in this process, as Prometheus reads them (histogram buckets"
        " left out).",
        "本进程 /metrics 中的指标，与 Prometheus 读取的一致（不含直方图分桶）。",
    ),
    "metric": ("Metric", "指标"),
    "labels": ("Labels", "标签"),
    "value": ("Value", "值"),
    "endpoints": ("Endpoints", "推送地址"),
    "url": ("URL", "地址"),
    "failures": ("Failures in a row", "连续失败次数"),
    "disabled": ("Disabled", "已停用"),
    "deliveries": ("Latest deliveries", "最近的推送"),
    "attempts": ("Attempts", "尝试次数"),
    "last_result": ("Last result", "最近结果"),
    "next_at": ("Next attempt", "下次尝试"),
    "keys_due": (
        "Histories past their purge date, key not yet destroyed",
        "已过清除日期、密钥尚未销毁的聊天记录",
    ),
    "rows_left": ("Keys destroyed, rows not yet deleted", "密钥已销毁、数据行尚未删除"),
    "oldest_due": ("Due since", "最早到期"),
    "log_lag": ("Audit entries not yet in the log", "尚未纳入日志的审计条目"),
    "erasures_waiting": ("Erasures waiting for the sweep", "等待清理的账户注销"),
    "live_holds": ("Live legal holds", "生效中的法律保全"),
    "reason_col": ("Reason", "原因"),
    "case_ref": ("Case", "案件"),
    "placed": ("Placed", "设立时间"),
    "look_up": ("Look up", "查询"),
    "user_a": ("User A", "用户 A"),
    "user_b": ("User B", "用户 B"),
    "relation": ("Relation", "关系"),
    "a_blocks_b": ("A blocks B", "A 屏蔽 B"),
    "b_blocks_a": ("B blocks A", "B 屏蔽 A"),
    "history": ("History", "聊天记录"),
    "key_present": ("Key present", "密钥仍在"),
    "block_deleted": ("Block-then-delete", "拉黑并删除"),
    "no_history": ("No history between them.", "两人之间没有聊天记录。"),
    "filter": ("Filter", "筛选"),
    "action": ("Action", "操作"),
    "any": ("any", "全部"),
    "actor": ("Actor", "操作者"),
    "seq": ("Seq", "序号"),
    "credential": ("Credential", "凭据"),
    "more": ("Later entries", "更多条目"),
    "log_size": ("Leaves in the tree", "树中叶子数"),
    "log_seq": ("Last audit entry integrated", "已纳入的最后审计条目"),
    "checkpoint": ("Latest checkpoint", "最新检查点"),
    "no_checkpoint": ("No checkpoint signed yet.", "尚未签署检查点。"),
}

# (English, Chinese) messages of the error codes a console page can meet. The Chinese ones are
# the wording the product's users know where there is one.
ERRORS: Final[dict[str, tuple[str, str]]] = {
    "unauthenticated": (
        "That token is not valid: it is wrong or was revoked.",
        "令牌无效：令牌错误或已被撤销。",
    ),
    "token_expired": (
        "That token has expired: ask your app for a new one.",
        "令牌已过期，请在应用中重新获取。",
    ),
    "csrf_token_invalid": (
        "This form is out of date or came from another site: reload the page and try again.",
        "表单已过期或来自其他网站，请刷新页面后重试。",
    ),
    "confirmation_mismatch": (
        "What you typed is not your user id: nothing was done.",
        "输入的不是你的用户 ID，未执行任何操作。",
    ),
    "user_not_found": ("No such user.", "该用户不存在。"),
    "invalid_user_id": ("That is not a valid user id.", "用户 ID 格式不正确。"),
    "not_in_your_contacts": (
        "This user is not in your contacts.",
        "对方不在你的联系人中。",
    ),
    "recipient_removed_you": (
        "The other side has friend verification on and you are not their friend: send a friend"
        " request first.",
        "对方开启了朋友验证，你还不是他（她）朋友。请先发送朋友验证请求，对方验证通过后，才能聊天。",
    ),
    "blocked_by_recipient": (
        "The message was sent but the recipient refused it.",
        "消息已发出，但被对方拒收了。",
    ),
    "you_blocked_user": (
        "You have blocked this user: unblock them first.",
        "你已将对方加入黑名单，请先移出黑名单。",
    ),
    "proposal_pending": (
        "A mutual-delete proposal between you is already pending.",
        "你们之间已有一个待处理的双向删除提议。",
    ),
    "proposal_not_found": (
        "There is no pending mutual-delete proposal here.",
        "没有待处理的双向删除提议。",
    ),
    "cannot_certify_self": (
        "A certificate is about you and someone else.",
        "删除证明须涉及你与另一位用户。",
    ),
    "nothing_to_certify": (
        "You and this user have no history to certify.",
        "你与该用户之间没有可证明的记录。",
    ),
    "message_too_long": ("The message is too long.", "附言过长。"),
    "invalid_text": (
        "The text holds characters that are not allowed.",
        "文本中含有不允许的字符。",
    ),
    "erasure_in_progress": (
        "Your account is already being erased.",
        "你的账户正在注销中。",
    ),
    "scope_required": (
        "This credential lacks the admin:read scope.",
        "此凭据缺少 admin:read 权限。",
    ),
    "busy": ("The server is busy: try again in a moment.", "服务器繁忙，请稍后重试。"),
    "database_unavailable": (
        "The service is unavailable: try again in a moment.",
        "服务暂不可用，请稍后重试。",
    ),
}


def word(key: str, lang: str) -> str:
    english, chinese = WORDS[key]
    return chinese if lang == "zh" else english


def error_text(code: str, fallback: str, lang: str) -> str:
    """The message of an error code in the language; the engine's own message if none."""
    known = ERRORS.get(code)
    if known is None:
        return fallback
    return known[1] if lang == "zh" else known[0]


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if the console speaks it, else the browser's first it speaks."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";", 1)[0].strip().lower()
        primary = tag.split("-", 1)[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT
