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
    "last_sweeps": ("The sweep's last runs", "最近几次清理"),
    "took": ("Took", "耗时"),
    "sweep_did": ("What it did", "处理内容"),
    "nothing_due": ("Nothing was due", "没有到期事项"),
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
    "older": ("Older entries", "更早的条目"),
    "first_page": ("First page", "第一页"),
    "newest": ("Newest entries", "最新条目"),
    "audit_span": ("Entries read, newest first (seq):", "已读取的条目（从新到旧，序号）："),
    "log_size": ("Leaves in the tree", "树中叶子数"),
    "log_seq": ("Last audit entry integrated", "已纳入的最后审计条目"),
    "checkpoint": ("Latest checkpoint", "最新检查点"),
    "no_checkpoint": ("No checkpoint signed yet.", "尚未签署检查点。"),
    # progressive cleanup (templates/cleanup*.html)
    "cleanup": ("Cleanup", "批量清理"),
    "cleanup_intro": (
        "Pick contacts to remove, see exactly what removing each does, remove them in batches,"
        " and undo a batch within its window. Nothing here says who removed you.",
        "选择要删除的联系人，查看删除每位联系人的确切后果，分批删除，并可在时限内撤销一批。"
        "这里不会显示谁删除了你。",
    ),
    "cleanup_filters": ("Filters", "筛选条件"),
    "cleanup_months": ("No messages for this many months", "已有多少个月没有消息"),
    "cleanup_never": ("Never messaged", "从未聊过天"),
    "cleanup_tag": ("With the tag", "带有标签"),
    "cleanup_chat_only": (
        "People you talk to, still seeing your posts (candidates for chat only)",
        "仍能看到你动态的聊天对象（可设为仅聊天）",
    ),
    "cleanup_candidates": ("Candidates", "候选联系人"),
    "cleanup_select_all": ("Select all on this page", "全选本页"),
    "cleanup_pick": ("Select", "选择"),
    "cleanup_last_message": ("Last message", "最后消息"),
    "cleanup_never_short": ("never", "从未"),
    "cleanup_preview": ("Preview the removal", "预览删除"),
    "cleanup_preview_intro": (
        "What removing each selected contact will do. Nothing is removed until you confirm.",
        "删除每位所选联系人的后果。确认之前不会删除任何人。",
    ),
    "next_page": ("Next page", "下一页"),
    "cleanup_batches": ("Recent cleanups", "最近的清理"),
    "cleanup_batches_intro": (
        "A cleanup batch can be undone until its window closes.",
        "每批清理在撤销时限结束前都可以撤销。",
    ),
    "cleanup_batch": ("Batch", "批次"),
    "cleanup_removed": ("Removed", "已删除"),
    "cleanup_undo_until": ("Undo until", "可撤销至"),
    "cleanup_undone": ("Undone", "已撤销"),
    "cleanup_window_closed": (
        "The undo window has closed: send a friend request to each contact you want back.",
        "撤销时限已过：请向想要找回的联系人重新发送好友申请。",
    ),
    "undo": ("Undo", "撤销"),
    "cleanup_parting": ("Removal", "删除方式"),
    "cleanup_history_after": ("Chat history after", "删除后的聊天记录"),
    "cleanup_restorable": ("Can it come back later?", "之后能否恢复"),
    "cleanup_told": ("What they are told", "对方会得知什么"),
    "cleanup_apply": ("Remove the contacts", "删除这些联系人"),
    "cleanup_back": ("Back to cleanup", "返回批量清理"),
    "cleanup_applying": ("Removing contacts", "正在删除联系人"),
    "cleanup_progress": ("Contacts done", "已处理的联系人"),
    "cleanup_finished": (
        "Done. You can undo each batch from the cleanup page until its window closes.",
        "已完成。在撤销时限结束前，可在批量清理页面撤销每一批。",
    ),
    "cleanup_undone_title": ("The undo, contact by contact", "逐个联系人的撤销结果"),
    "cleanup_why": ("Why not", "原因"),
    "item_ready": ("will be removed", "将被删除"),
    "item_removed": ("removed", "已删除"),
    "item_not_in_contacts": ("not in your contacts", "不在你的联系人中"),
    "item_user_not_found": ("no such user", "该用户不存在"),
    "parting_one_way": (
        "One-way: you remove them; as far as you may know, they keep you",
        "单向：你删除对方；就你所知，对方仍保留你",
    ),
    "parting_mutual": (
        "Mutual: they removed you and told you, so this completes a mutual delete",
        "双向：对方已删除你并告知了你，此次删除将完成双向删除",
    ),
    "parting_block_delete": (
        "Block, then delete: you block them, so the history is erased at once for both, for good",
        "拉黑后删除：你已拉黑对方，聊天记录将立即为双方永久删除",
    ),
    "history_active": ("kept", "保留"),
    "history_buffered": ("read-only until purged", "只读，直至清除"),
    "history_purged": ("purged", "已清除"),
    "history_none": ("none", "无"),
    "restorable_never": ("never", "无法恢复"),
    "restorable_readd": ("yes, by adding them again (no end)", "可以，重新添加对方即可（不限时）"),
    "restorable_until": (
        "yes, by a request they accept before",
        "可以，对方在此时间前同意申请即可：",
    ),
    "told_nothing": ("nothing (silent)", "不告知（静默）"),
    "told_on_contact": (
        "told when they next message you or look",
        "对方下次给你发消息或查看时会被告知",
    ),
    "told_at_once": ("a notice now", "立即收到通知"),
    "told_stays": ("an undo cannot take that back", "撤销无法收回已告知的内容"),
    "undo_restored": ("back in your contacts", "已恢复到你的联系人"),
    "undo_already_in_contacts": ("already back in your contacts", "已在你的联系人中"),
    "undo_not_restorable": ("cannot come back", "无法恢复"),
    "reason_history_erased": (
        "a block-then-delete erased the history for good",
        "拉黑后删除已永久清除聊天记录",
    ),
    "reason_you_block_them": (
        "you blocked them since: unblock them, then add them again",
        "你之后拉黑了对方：请先解除拉黑，再重新添加",
    ),
    "reason_friend_limit_reached": ("your contact list is full", "你的联系人已达上限"),
    "reason_user_erased": ("their account no longer exists", "对方账户已不存在"),
    "reason_not_removed": (
        "this batch did not remove them (they were not a contact)",
        "此批次未删除对方（对方当时不是你的联系人）",
    ),
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
    "cleanup_batch_not_found": ("No such cleanup batch of yours.", "没有你的这一清理批次。"),
    "undo_window_passed": (
        "The undo window of this cleanup has closed: send a friend request to each contact you"
        " want back.",
        "此次清理的撤销时限已过：请向想要找回的联系人重新发送好友申请。",
    ),
    "cleanup_already_undone": ("This cleanup was undone already.", "此次清理已被撤销。"),
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
