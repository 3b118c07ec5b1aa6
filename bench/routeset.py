"""Labelled messages for the example app's router (examples/northwind/bike-help.yaml): realistic English and
Chinese customer messages, none of them among the routes' examples, some with cues of two routes (a price in
a policy question, a policy word in a translation request). Written by hand for bench/engine.py and the tests.

`python bench/routeset.py > routes.jsonl` writes them in the format `mentor app eval-router --data` reads.
"""

from __future__ import annotations

import json

ROWS = {
    "calc": [
        "I want 2 bottles at £7.50 and a pump at £19, what's the total?",
        "A jacket is £120 and it's 25% off. What do I pay?",
        "How many km is 30 miles?",
        "If I save £35 a week, how many weeks until I can afford an £840 bike?",
        "What's 4 inner tubes at £6.99 plus £4.99 delivery?",
        "My order was £256 and I have a £20 voucher and 5% member discount after that, how much is left to pay?",
        "Split £1,350 over 9 monthly payments, how much each month?",
        "How much is 19.99 times 3?",
        "A 10% discount on a £499 bike and then free delivery: final price?",
        "Convert 26 inches to centimetres",
        "买 3 个车灯，每个 15.5 英镑，总共多少？",
        "这件外套原价 240 英镑，打七五折后多少钱？",
        "一共 1350 英镑，分 9 期，每期付多少？",
        "50 英里等于多少公里？",
        "两辆车各 899 英镑，再减 100 英镑优惠券，要付多少？",
        "每周存 40 英镑，多少周能存够 1000 英镑？",
        "12 乘以 7.5 加上 4.99 等于几？",
        "一个头盔 45 英镑，买 4 个打九折，总价多少？",
        "运费 12 英镑，加上 3 双袜子每双 6 英镑，一共多少钱？",
        "256 的 15% 是多少？",
    ],
    "translate": [
        "Translate to Chinese: I would like to exchange my helmet for a larger size",
        "What's the English for 变速器?",
        "Can you translate 'the pedal is loose' into Chinese?",
        "How do I say 'saddle' in Chinese?",
        "Translate this into English please: 我的订单还没有发货",
        "Please put this in Chinese: where is my refund?",
        "What does 车把 mean in English?",
        "Translate: 这辆车可以试骑吗",
        "I need this in Chinese for my dad: the bike will arrive on Friday",
        "English translation of 轮胎漏气了 please",
        "请把这句话翻译成中文：The warranty covers the frame for life",
        "“刹车片”的英文是什么？",
        "翻译成英文：我想取消订单",
        "帮我把“退货标签”翻成英语",
        "英文里“打气筒”怎么说？",
        "请翻译：My chain keeps falling off",
        "把下面的话译成英文：车架尺寸太小了",
        "“头盔”用英文怎么写？",
        "这句英文什么意思：Out of stock until March",
        "翻译一下：Free delivery on orders over £50",
    ],
    "kb": [
        "What is your return policy for helmets?",
        "How many days do I have to send a bike back?",
        "Do you deliver to Germany and how long does it take?",
        "Is shipping free if I spend £60?",
        "My brakes broke after a year, is that covered?",
        "How fast do refunds arrive after you receive the return?",
        "Does the warranty cover a crash?",
        "What does express delivery cost?",
        "Can I return a custom-built bike?",
        "Who pays for the return label on a £40 order?",
        "头盔可以退货吗？",
        "退款多久能到账？",
        "车架保修多长时间？",
        "英国境内配送要几天？",
        "订单满多少免运费？",
        "骑过的自行车还能退吗？",
        "链条磨损在保修范围内吗？",
        "加急配送多少钱？",
        "怎么申请保修？",
        "比赛摔坏的车能保修吗？",
    ],
    "chat": [
        "Hi, good morning!",
        "Thank you so much, have a nice day",
        "Are you a robot?",
        "What can you help me with?",
        "Great, that's all I needed",
        "Hello, is anyone there?",
        "You've been very helpful, cheers",
        "Bye!",
        "Nice to meet you",
        "Can I talk to you in Chinese?",
        "早上好！",
        "你是机器人吗？",
        "非常感谢，再见",
        "你能帮我做什么？",
        "好的，没有别的问题了",
        "你叫什么名字？",
        "哈喽",
        "辛苦了，谢谢",
        "晚安",
        "你会说中文吗？",
    ],
}


def rows() -> list[dict]:
    """``{"q": message, "route": expected}`` for every message."""
    return [{"q": q, "route": route} for route, qs in ROWS.items() for q in qs]


if __name__ == "__main__":
    for row in rows():
        print(json.dumps(row, ensure_ascii=False))
