"""Every word the console shows, in English and Chinese; the language of a request.

The language is, in order: the one the user chose (its cookie), the account's language, the
browser's Accept-Language; English otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("zh-CN", "en")
Translate = Callable[..., str]

# key: (English, Chinese)
MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("fupin console", "扶贫撮合平台"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出"),
    "username": ("Username", "用户名"),
    "password": ("Password", "密码"),
    "bad_sign_in": ("Wrong username or password.", "用户名或密码错误。"),
    "locked": (
        "Too many failed sign-ins: this account is locked for a while. Ask your office to "
        "reset the password.",
        "登录失败次数过多，账号已被暂时锁定。请联系扶贫办重置密码。",
    ),
    "too_many_sign_ins": (
        "Too many failed sign-ins from this address: try again in {minutes} min.",
        "此地址登录失败次数过多，请 {minutes} 分钟后再试。",
    ),
    "signed_out": ("You have signed out.", "您已退出。"),
    "session_over": ("Your session has ended: sign in again.", "会话已结束，请重新登录。"),
    "csrf": (
        "This form is out of date or did not come from this console: nothing was changed.",
        "表单已过期或并非来自本平台，未做任何更改。",
    ),
    "denied": ("Your role may not do this.", "您的角色无权执行此操作。"),
    "not_found": ("Not found.", "未找到。"),
    "error": ("The server refused", "服务器拒绝了请求"),
    "unavailable": ("The server cannot be reached; try again.", "无法连接服务器，请重试。"),
    "language": ("中文", "English"),
    "role_admin": ("Administrator", "管理员"),
    "role_office": ("Poverty alleviation office", "扶贫办"),
    "role_cooperative": ("Cooperative", "合作社"),
    "role_platform": ("Platform", "电商平台"),
    "role_auditor": ("Auditor", "审计"),
    # cooperative
    "my_listings": ("My listings", "我的货源"),
    "add_listing": ("Add a listing", "新增货源"),
    "edit_listing": ("Edit listing", "修改货源"),
    "product": ("Product", "品种"),
    "grade": ("Grade", "等级"),
    "quantity_kg": ("Quantity (kg)", "数量（公斤）"),
    "reserved_kg": ("Sold (kg)", "已售（公斤）"),
    "floor_price": ("Floor price (yuan/kg)", "最低价（元/公斤）"),
    "available_from": ("Available from", "起始日期"),
    "available_until": ("Available until", "截止日期"),
    "shelf_life_days": ("Shelf life (days)", "保质期（天）"),
    "save": ("Save", "保存"),
    "saved": ("Saved.", "已保存。"),
    "edit": ("Edit", "修改"),
    "none": ("Nothing here yet.", "暂无记录。"),
    "fix_fields": ("Please correct the fields marked below.", "请修改下面标出的内容。"),
    # platform
    "my_orders": ("My orders", "我的订单"),
    "price": ("Price (yuan/kg)", "价格（元/公斤）"),
    "min_max_kg": ("Min–max (kg)", "最少–最多（公斤）"),
    "filled_kg": ("Filled (kg)", "已满足（公斤）"),
    "deliver_by": ("Deliver by", "交货日期"),
    "quick_source": ("Quick sourcing", "快速寻源"),
    "today": ("Today", "今天"),
    "producer": ("Producer", "生产者"),
    "available_kg": ("Available (kg)", "可供（公斤）"),
    "suggested_kg": ("Suggested (kg)", "建议（公斤）"),
    "value_per_kg": ("Value (yuan/kg)", "价值（元/公斤）"),
    "flows": ("Flows", "流向"),
    "what_if": ("What-if match on my orders", "模拟撮合我的订单"),
    "what_if_run": ("Match", "开始撮合"),
    "what_if_note": (
        "The run is only proposed: nothing is reserved until you commit it on its page.",
        "撮合结果仅为建议：在结果页提交之前不会锁定任何货源。",
    ),
    "allocations": ("Allocations", "分配结果"),
    "outcomes": ("Sales outcomes", "销售结果"),
    "no_committed_run": ("No produce run has been committed yet.", "尚无已提交的农产品撮合。"),
    "sold": ("Sold", "已售出"),
    "unsold": ("Not sold", "未售出"),
    "sells_at_floor": ("Would sell at floor (yuan/kg)", "可售出的最低价（元/公斤）"),
    "sells_at_floor_note": (
        "A listing not sold would have sold had its floor price been at most the price shown; "
        "— : no floor price would have sold it.",
        "未售出的货源若将最低价降到所示价格或以下即可售出；“—”表示任何价格都无法售出。",
    ),
    "NO_COMPATIBLE_ORDER": ("no order for this product and grade", "没有该品种和等级的订单"),
    "FLOOR_ABOVE_NET_PRICE": (
        "every order pays less than the floor, net of transport",
        "扣除运费后所有订单价格都低于最低价",
    ),
    "BEYOND_SHELF_LIFE_OR_DISTANCE": (
        "dates, shelf life or distance rule out every order",
        "日期、保质期或距离不符合任何订单",
    ),
    "OUTBID": ("orders went to supply of higher value", "订单已由更高价值的货源满足"),
    "household_producer": ("a poor household", "贫困户"),
    "buyer": ("Buyer", "采购方"),
    "pickup": ("Pick-up", "提货日期"),
    "value_per_kg_net": ("Net value (yuan/kg)", "净收益（元/公斤）"),
    "kg_sold": ("Sold (kg)", "成交（公斤）"),
    "poor_kg_sold": ("From poor households (kg)", "来自贫困户（公斤）"),
    "poor_income": ("Poor households' income (yuan)", "贫困户收入（元）"),
    "unsold_kg": ("Unsold (kg)", "未售（公斤）"),
    # office
    "households": ("Households", "贫困户"),
    "filter": ("Filter", "筛选"),
    "filter_hint": (
        'e.g. status = IMPOVERISHED AND village_id = "vil-…"',
        "例如 status = IMPOVERISHED",
    ),
    "apply": ("Apply", "应用"),
    "next_page": ("Next page", "下一页"),
    "head_name": ("Head of household", "户主"),
    "card_number": ("Card no.", "建档立卡号"),
    "village": ("Village", "村"),
    "members": ("Members", "人口"),
    "score": ("Score", "评分"),
    "status": ("Status", "状态"),
    "causes": ("Causes of poverty", "致贫原因"),
    "file_card": ("File card", "建档卡"),
    "indicators": ("Indicators", "指标"),
    "history": ("History", "历史"),
    "watchlist": ("Watchlist", "返贫预警"),
    "reasons": ("Reasons", "原因"),
    "runs": ("Runs", "撮合运行"),
    "start_aid": ("Allocate aid", "分配帮扶资金"),
    "start_stationing": ("Station cadres", "选派驻村干部"),
    "start_contracting": ("Contract households", "结对帮扶"),
    "programmes": ("Programmes", "帮扶项目"),
    "time_limit": ("Time limit (s)", "时限（秒）"),
    "start": ("Start", "开始"),
    "run": ("Run", "运行"),
    "kind": ("Kind", "类型"),
    "state": ("State", "状态"),
    "solve_status": ("Solver status", "求解状态"),
    "created": ("Created", "创建时间"),
    "progress": ("Progress", "进度"),
    "waiting": ("Waiting for the solver…", "等待求解器…"),
    "objective": ("Objective", "目标值"),
    "bound": ("Bound", "上界"),
    "gap": ("Gap", "差距"),
    "elapsed": ("Elapsed (s)", "用时（秒）"),
    "commit": ("Commit", "提交"),
    "discard": ("Discard", "放弃"),
    "committed": ("Committed: written to the ledger.", "已提交，已记入台账。"),
    "discarded": ("Discarded.", "已放弃。"),
    "grants": ("Grants", "资助"),
    "household": ("Household", "农户"),
    "programme": ("Programme", "项目"),
    "amount": ("Amount (yuan)", "金额（元）"),
    "need": ("Need", "需求"),
    "left_out": ("Left out", "未获资助"),
    "reason": ("Reason", "原因"),
    "helped": ("Households helped", "受助户数"),
    "budget": ("Budget (yuan)", "预算（元）"),
    "spent": ("Granted (yuan)", "已拨（元）"),
    "postings": ("Postings", "驻村安排"),
    "cadre": ("Cadre", "干部"),
    "distance_km": ("Distance (km)", "距离（公里）"),
    "secretary": ("First secretary", "第一书记"),
    "contracts": ("Contracts", "结对"),
    "same_village": ("Same village", "同村"),
    "fairness": ("Fairness", "公平性"),
    "map": ("Map", "地图"),
    "error_run": ("The run failed", "运行失败"),
    "ledger": ("Ledger", "台账"),
    "verify": ("Verify the chain", "校验台账链"),
    "intact": ("The ledger is intact: {n} entries checked.", "台账完整：已校验 {n} 条。"),
    "broken": (
        "The ledger is BROKEN at entry {seq}: {reason}",
        "台账在第 {seq} 条处被破坏：{reason}",
    ),
    "seq": ("No.", "序号"),
    "time": ("Time", "时间"),
    "subject": ("Subject", "对象"),
    "counterpart": ("Counterpart", "对方"),
    "audit_log": ("Audit log", "审计日志"),
    "who": ("Who", "用户"),
    "rpc": ("Action", "操作"),
    "outcome": ("Outcome", "结果"),
    "records": ("Records", "记录"),
    "welcome": ("Signed in as {name} ({role}, {scope}).", "已登录：{name}（{role}，{scope}）。"),
}

# Enum display names: (English, Chinese) by the proto's value name.
NAMES: dict[str, tuple[str, str]] = {
    "IMPOVERISHED": ("impoverished", "贫困"),
    "AT_RISK": ("at risk", "边缘易致贫"),
    "LIFTED_OUT": ("lifted out", "已脱贫"),
    "RETURNED_TO_POVERTY": ("returned to poverty", "返贫"),
    "ILLNESS": ("illness", "因病"),
    "DISABILITY": ("disability", "因残"),
    "EDUCATION": ("education", "因学"),
    "NATURAL_DISASTER": ("natural disaster", "因灾"),
    "LACK_OF_LAND": ("lack of land", "缺土地"),
    "LACK_OF_WATER": ("lack of water", "缺水"),
    "LACK_OF_TECHNOLOGY": ("lack of technology", "缺技术"),
    "LACK_OF_LABOUR": ("lack of labour", "缺劳力"),
    "LACK_OF_CAPITAL": ("lack of capital", "缺资金"),
    "POOR_TRANSPORT": ("poor transport", "交通落后"),
    "LACK_OF_MOTIVATION": ("lack of motivation", "内生动力不足"),
    "QUEUED": ("queued", "排队中"),
    "RUNNING": ("running", "求解中"),
    "PROPOSED": ("proposed", "待审核"),
    "COMMITTED": ("committed", "已提交"),
    "DISCARDED": ("discarded", "已放弃"),
    "FAILED": ("failed", "失败"),
    "CANCELLED": ("cancelled", "已取消"),
    "PRODUCE": ("produce", "农产品"),
    "AID": ("aid", "帮扶资金"),
    "CADRE_STATIONING": ("stationing", "驻村选派"),
    "CADRE_CONTRACTING": ("contracting", "结对帮扶"),
    "OPTIMAL": ("optimal", "最优"),
    "NO_SOLUTION": ("no solution proven", "未证明有解"),
    "SOLVE_STATUS_UNSPECIFIED": ("—", "—"),
    "FEASIBLE": ("feasible", "可行"),
    "INFEASIBLE": ("infeasible", "不可行"),
    "PRODUCE_COMMIT": ("produce sold", "农产品成交"),
    "AID_GRANT": ("aid grant", "帮扶拨款"),
    "SHIPMENT_DISPATCH": ("dispatched", "发货"),
    "SHIPMENT_RECEIPT": ("received", "收货"),
    "SHIPMENT_REJECTION": ("rejected", "拒收"),
    "SHIPMENT_CANCEL": ("shipment cancelled", "取消发货"),
    "CADRE_POSTING": ("cadre posted", "干部驻村"),
    "HOUSEHOLD_CONTRACT": ("household contracted", "结对帮扶"),
    "PAYMENT": ("payment", "货款"),
    "DIVIDEND": ("member dividend", "社员分红"),
    "AID_DISBURSEMENT": ("aid disbursed", "资金发放"),
    "AID_RECEIPT": ("aid signed for", "签收"),
    "AID_CLAWBACK": ("aid clawed back", "资金追回"),
    "EXCLUDED_BY_RULE": ("excluded by a rule", "规则排除"),
    "CAP_REACHED": ("household cap reached", "已达每户上限"),
    "BUDGET_EXHAUSTED_BY_HIGHER_NEED": ("budget went to greater need", "预算已用于更困难户"),
    "NOT_SELECTED": ("not selected", "未入选"),
    "REGIONAL_QUOTA": ("budget kept for a region's quota", "预算留给地区配额"),
    "BUDGET_EXHAUSTED": ("budget used up", "预算已用完"),
    "SIGNED_IN": ("signed in", "登录成功"),
    "SIGNED_OUT": ("signed out", "已退出"),
    "BAD_PASSWORD": ("wrong password", "密码错误"),
    "UNKNOWN_USER": ("unknown user", "用户不存在"),
    "DISABLED": ("disabled", "已停用"),
    "LOCKED_OUT": ("locked out", "已锁定"),
}


def choose(preferred: str, account: str, accept_language: str) -> str:
    for candidate in (preferred, account):
        if candidate in LANGUAGES:
            return candidate
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return "en"


def translator(lang: str) -> Translate:
    index = 1 if lang == "zh-CN" else 0

    def t(key: str, **values: object) -> str:
        pair = MESSAGES.get(key) or NAMES.get(key)
        text = pair[index] if pair else key
        return text.format(**values) if values else text

    return t
