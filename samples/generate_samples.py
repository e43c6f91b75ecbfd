#!/usr/bin/env python3
"""Writes the sample data of the first-run walkthrough: support conversations for "Lumen", a fictional smart-lamp
maker (chat format), and a short corpus of its product documentation (text format). Deterministic (fixed seed);
the committed .jsonl files are its output: python3 samples/generate_samples.py"""
import json
import random
from pathlib import Path

rng = random.Random(20261129)
HERE = Path(__file__).parent

SYSTEM = "You are the support assistant of Lumen, a maker of smart lamps. Answer briefly, kindly and precisely; ask for what you need to know."

PRODUCTS = {
    "Lumen Bulb A19": "bulb", "Lumen Bulb GU10": "bulb", "Lumen Mini": "lamp", "Lumen Glow floor lamp": "lamp",
    "Lumen Desk": "lamp", "Lumen Strip 2 m": "strip", "Lumen Strip 5 m": "strip", "Lumen Hub": "hub",
}
LAMPS = [p for p, kind in PRODUCTS.items() if kind != "hub"]
FIRMWARE = ["3.2.1", "3.2.4", "3.3.0", "3.4.2", "3.5.0"]
LATEST = "3.5.0"
ROOMS = ["living room", "bedroom", "kitchen", "office", "hallway", "kids' room", "porch", "studio"]
ASSISTANTS = ["Alexa", "Google Home", "Siri Shortcuts", "Home Assistant"]
ROUTERS = ["a mesh system", "my ISP's router", "a dual-band router", "an old router", "a new Wi-Fi 6 router"]
COLORS = ["warm white", "cool white", "amber", "deep blue", "soft pink", "green", "sunset orange"]


def order():
    return f"LM-{rng.randint(10000, 99999)}"


def pick(*options):
    return rng.choice(options)


# Each topic returns one conversation as [(user, assistant), ...]; the phrasing varies with the slots.
def pairing():
    lamp, room = rng.choice(LAMPS), rng.choice(ROOMS)
    user = pick(f"My new {lamp} won't pair with the app.", f"I can't add the {lamp} in my {room} to the Lumen app.",
                f"The app keeps saying 'no device found' when I try to set up my {lamp}.", f"How do I pair a {lamp}?")
    answer = (f"Let's get your {lamp} paired. Switch it on and make sure it blinks slowly, which means it is in pairing mode; "
              f"if it doesn't, turn it off and on three times, about one second each. Then in the app tap Add device, choose {lamp}, "
              "and keep your phone within a few metres of it. Bluetooth must be on during setup, even though the lamp then runs on Wi-Fi.")
    turns = [(user, answer)]
    if rng.random() < 0.5:
        turns.append((pick("It blinks but the app still finds nothing.", "Bluetooth is on and it still fails.", "It says pairing timed out."),
                       pick("Then the app probably lacks the location permission it needs to scan for Bluetooth devices: open your phone's settings, "
                            "find the Lumen app and allow Location and Nearby devices. Close and reopen the app and try Add device again.",
                            "Please make sure the phone is on a 2.4 GHz Wi-Fi network during setup; the lamps don't join 5 GHz-only networks. "
                            "If your router uses one name for both bands, setup usually still works, but moving closer to the router helps.")))
    return turns


def wifi():
    lamp, router = rng.choice(LAMPS), rng.choice(ROUTERS)
    user = pick(f"My {lamp} keeps going offline.", f"Since I switched to {router}, my lamps show as unreachable.",
                f"The {lamp} disconnects from Wi-Fi every evening.", "Why do my lights say 'offline' in the app?")
    answer = pick(
        "Lamps go offline when the Wi-Fi signal where they stand is weak or when the network changed. In the app, open the lamp, then Settings, "
        "Device info: the signal should be better than -70 dBm. If it is weaker, a mesh point or moving the router closer usually fixes it.",
        "If you changed your router or your Wi-Fi password, the lamps still try the old network. Open the app, tap the lamp, choose Settings, "
        "Wi-Fi, Change network, and enter the new details. Lamps only join 2.4 GHz networks, so make sure that band is enabled.")
    turns = [(user, answer)]
    if rng.random() < 0.4:
        turns.append(("The signal is fine though.", "Then please check whether your router assigns the lamp a new address often: giving the lamp a fixed "
                      "(reserved) address in the router's settings stops the evening drop-outs many customers saw with lease times under one hour."))
    return turns


def firmware():
    lamp, old = rng.choice(LAMPS), rng.choice(FIRMWARE[:-1])
    user = pick(f"How do I update the firmware of my {lamp}?", f"My {lamp} is on firmware {old}, is that current?",
                f"The firmware update of my {lamp} is stuck at 60%.", "Do the lamps update themselves?")
    if "stuck" in user:
        answer = ("An update that stops part way is safe: the lamp keeps its previous firmware until the new one is complete. Leave it powered "
                  "for ten minutes; if the progress doesn't move, switch the lamp off for ten seconds and start the update again from the app, "
                  "with your phone near the lamp.")
    else:
        answer = (f"The current firmware is {LATEST}. Lamps update themselves overnight between 2 and 5 a.m. when automatic updates are on "
                  "(app, lamp, Settings, Updates). To update now, tap Check for updates there; the lamp restarts once and keeps all its settings.")
    return [(user, answer)]


def returns():
    lamp, number = rng.choice(LAMPS), order()
    days = rng.choice([5, 12, 21, 28])
    user = pick(f"I'd like to return my {lamp}, order {number}.", f"Can I still return the {lamp} I bought {days} days ago?",
                f"The {lamp} isn't what I expected. How do returns work?")
    answer = (f"You can return any Lumen product within 30 days of delivery for a full refund, even if it was opened. "
              f"Go to Orders in your Lumen account, choose the order{' ' + number if number in user else ''} and select Return an item; "
              "you'll get a prepaid label. Refunds reach your original payment method within 5 business days after the parcel arrives.")
    turns = [(user, answer)]
    if days > 30 or rng.random() < 0.3:
        turns.append(("What if it's past 30 days?", "After 30 days a return is no longer possible, but the two-year warranty still covers any defect: "
                      "if the lamp doesn't work as it should, tell me what happens and we'll arrange a replacement."))
    return turns


def billing():
    number = order()
    user = pick(f"I was charged twice for order {number}.", "Why is there a Lumen charge on my card this month?",
                "How do I cancel Lumen Plus?", "Can I get an invoice with my company's VAT number?")
    if "twice" in user:
        answer = (f"I'm sorry about that. A second charge for {number} is usually a card pre-authorisation that expires on its own within "
                  "7 days. If both charges are still there after a week, reply with the last four digits of the card and we'll refund the duplicate.")
    elif "cancel" in user:
        answer = ("You can cancel Lumen Plus at any time in the app under Account, Subscription, Cancel. You keep the Plus features until the "
                  "end of the period you paid for; your lamps, scenes and schedules keep working without Plus.")
    elif "VAT" in user:
        answer = ("Yes. In your Lumen account open Orders, choose the order and select Invoice; add your company name and VAT number there "
                  "before downloading it. Invoices can be changed for up to 90 days after the order.")
    else:
        answer = ("A monthly charge is most likely Lumen Plus, the optional subscription for away-mode and extended history. You can see every "
                  "charge under Account, Billing in the app; if one isn't yours, tell me the date and the amount and I'll check it.")
    return [(user, answer)]


def colors():
    lamp, color = rng.choice([p for p in LAMPS if "GU10" not in p]), rng.choice(COLORS)
    user = pick(f"The {color} on my {lamp} looks washed out.", f"Can I set my {lamp} to {color} at sunset automatically?",
                f"Why does my {lamp} flicker at low brightness?")
    if "flicker" in user:
        answer = ("Flicker at low brightness usually comes from a wall dimmer in front of the lamp: Lumen lamps dim themselves and need full "
                  "power. Set the wall dimmer to maximum or replace it with a normal switch, and dim from the app instead.")
    elif "sunset" in user:
        answer = (f"Yes. In the app open Automations, tap New, choose At sunset as the trigger and {lamp} with the colour {color} as the action. "
                  "Sunset times follow your home's location, which you can set under Home settings.")
    else:
        answer = ("Saturated colours look paler when the brightness is above about 80%, because the white LEDs help out. Lower the brightness a "
                  "little, or turn off Boost white under the lamp's settings, and the colour will be deeper.")
    return [(user, answer)]


def voice():
    lamp, assistant = rng.choice(LAMPS), rng.choice(ASSISTANTS)
    user = pick(f"How do I connect my {lamp} to {assistant}?", f"{assistant} says it can't find my lamps.",
                f"Can I control the {lamp} with {assistant}?")
    answer = (f"Yes. Link your Lumen account in {assistant} (search for Lumen in its skills or integrations) and sign in with the account "
              "you use in the Lumen app; your lamps then appear with the names they have in the app. If a lamp is missing, rename it in "
              f"the Lumen app and ask {assistant} to discover devices again.")
    return [(user, answer)]


def reset():
    lamp = rng.choice(LAMPS)
    user = pick(f"How do I factory reset a {lamp}?", f"I'm giving my {lamp} away, how do I remove it from my account?",
                f"My {lamp} is unresponsive, what can I do?")
    answer = (f"To reset the {lamp}, switch it off and on five times in a row, leaving it on for about a second each time; it flashes twice "
              "when the reset worked. That removes it from your home and your Wi-Fi. If you're giving it away, also delete it in the app "
              "under the lamp's Settings, Remove device, so it no longer counts toward your account.")
    return [(user, answer)]


def hub():
    user = pick("Do I need the Lumen Hub?", "What does the hub add?", "Can the lamps work without internet?")
    answer = ("You don't need the Hub for everyday use: lamps work over Wi-Fi on their own. The Hub adds local control, so schedules and "
              "switches keep working when your internet is down, and it lets you connect more than 50 lamps in one home.")
    return [(user, answer)]


def shipping():
    number, days = order(), rng.choice([2, 4, 6, 9])
    user = pick(f"Where is my order {number}?", f"I ordered {days} days ago and nothing has arrived.", "Do you ship to Norway?")
    if "Norway" in user:
        answer = "We ship to every country in the EU, the UK, Norway and Switzerland. Delivery takes 2 to 5 business days; duties are included at checkout."
    else:
        answer = (f"Orders ship within one business day and arrive in 2 to 5 business days. You'll find the tracking link under Orders in "
                  f"your account{' for ' + number if number in user else ''}. If it shows delivered but you have nothing, tell me and I'll open an investigation with the carrier.")
    return [(user, answer)]


def warranty():
    lamp, months = rng.choice(LAMPS), rng.choice([3, 8, 14, 20, 27])
    user = pick(f"My {lamp} stopped working after {months} months.", f"One LED segment of my {lamp} is dead.", "What does the warranty cover?")
    if months > 24 and str(months) in user:
        answer = (f"I'm sorry to hear that. The warranty covers two years, so at {months} months it has ended, but we can offer a 30% discount "
                  "on a replacement. Before that, please try a reset (off and on five times) in case it's a software fault.")
    else:
        answer = ("That is covered by our two-year warranty. Please send a short video of the fault and your order number, and we'll ship a "
                  "replacement right away; you don't need to send the old one back first.")
    return [(user, answer)]


def schedules():
    lamp, room = rng.choice(LAMPS), rng.choice(ROOMS)
    hour = rng.choice(["6:30", "7:00", "22:00", "23:15"])
    user = pick(f"How do I make the {room} lights turn on at {hour}?", f"My schedule for the {lamp} didn't run this morning.",
                "Can the lamps wake me up gradually?")
    if "didn't run" in user:
        answer = ("Schedules run on the lamp itself, so it needs to know the time: if it was without power, it gets the time back only once it is "
                  "online again. Check that the lamp is online and that the schedule's days include today; the app shows the next run under the schedule.")
    elif "wake" in user:
        answer = ("Yes: create a Wake-up routine under Automations. The lamp fades from off to the brightness you choose over 10 to 60 minutes "
                  "before your alarm time.")
    else:
        answer = f"Open Automations, tap New, choose the time {hour} and the days, then add the lamps in the {room} and the brightness or scene you want."
    return [(user, answer)]


TOPICS = [pairing, wifi, firmware, returns, billing, colors, voice, reset, hub, shipping, warranty, schedules]


def conversation():
    turns = rng.choice(TOPICS)()
    if rng.random() < 0.25:
        turns.append((pick("Thanks, that worked!", "Great, thank you.", "Perfect, sorted."),
                      pick("Glad to hear it! Enjoy your lights.", "You're welcome. If anything else comes up, just ask.", "Happy to help!")))
    messages = [{"role": "system", "content": SYSTEM}] if rng.random() < 0.7 else []
    for user, assistant in turns:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}


def corpus():
    paragraphs = []
    for product, kind in PRODUCTS.items():
        watts = rng.choice([5, 7, 9, 12, 18])
        lumen = watts * rng.choice([80, 90, 100])
        paragraphs.append(f"The {product} is a {kind} from Lumen's smart lighting range. It draws {watts} W at full brightness and gives up to "
                          f"{lumen} lumen. It joins a 2.4 GHz Wi-Fi network, is set up with Bluetooth from the Lumen app, and can be controlled by "
                          "the app, by voice assistants and by Lumen switches.")
        if kind != "hub":
            paragraphs.append(f"Setting up the {product}: switch it on, check that it blinks slowly (pairing mode), open the Lumen app, tap Add device and "
                              f"choose {product}. Keep the phone within a few metres. If the {product} does not blink, switch it off and on three times.")
            paragraphs.append(f"Resetting the {product}: switch it off and on five times in a row, about one second each. Two flashes confirm the reset. "
                              "The lamp then forgets its Wi-Fi network and its home, and can be set up again.")
            paragraphs.append(f"The {product} dims itself. Connect it to a normal switch or a switch left on, never to a wall dimmer: a dimmer in front "
                              "of the lamp makes it flicker at low brightness and can shorten its life.")
    for version, note in [("3.2.1", "improved pairing with phones running the latest Android"), ("3.2.4", "fixed colour drift after long use in warm white"),
                          ("3.3.0", "added sunrise and sunset triggers that follow the home's location"),
                          ("3.4.2", "made reconnection after router restarts faster and reduced evening drop-outs"),
                          ("3.5.0", "added the Wake-up routine and local control through the Lumen Hub")]:
        paragraphs.append(f"Firmware {version} {note}. Lamps install updates overnight between 2 and 5 a.m. when automatic updates are on, or at once "
                          "from the lamp's Settings, Updates, Check for updates. An update keeps scenes, schedules and names.")
    policies = [
        "Returns: every Lumen product can be returned within 30 days of delivery for a full refund, opened or not. Start the return under Orders "
        "in your Lumen account to receive a prepaid label. Refunds reach the original payment method within 5 business days of the parcel's arrival.",
        "Warranty: Lumen lamps, strips and the Hub carry a two-year warranty against defects. A replacement is shipped as soon as the fault is "
        "confirmed, before the faulty product is returned. After the warranty, customers are offered a discount on a replacement.",
        "Lumen Plus is an optional subscription. It adds away mode, which imitates someone being home, a year of energy history and priority "
        "support. It can be cancelled at any time; scenes, schedules and automations keep working without it.",
        "Shipping: orders leave the warehouse within one business day and arrive in 2 to 5 business days in the EU, the UK, Norway and "
        "Switzerland. Duties and taxes are included at checkout. The tracking link is under Orders in the account.",
        "Invoices: each order has an invoice under Orders, Invoice. The company name and VAT number can be added or changed for 90 days after the order.",
        "Privacy: Lumen lamps send no audio or video. The app stores schedules, scenes and energy use in the customer's account; usage history "
        "can be deleted at any time under Account, Privacy.",
    ]
    paragraphs += policies
    trouble = [
        ("the lamp shows as offline", "check the Wi-Fi signal under Settings, Device info (better than -70 dBm is good), confirm the router's "
         "2.4 GHz band is on, and give the lamp a reserved address if the router's lease time is short"),
        ("the app finds no device during setup", "allow the app the Location and Nearby devices permissions, turn Bluetooth on and keep the phone "
         "close to the lamp"),
        ("a schedule did not run", "make sure the lamp is online so it knows the time, and that the schedule's days include today"),
        ("colours look pale", "lower the brightness below about 80% or turn off Boost white in the lamp's settings"),
        ("a voice assistant cannot find the lamps", "link the Lumen account in the assistant, rename the lamp in the Lumen app and run device discovery again"),
        ("an update seems stuck", "wait ten minutes, then switch the lamp off for ten seconds and start the update again; the previous firmware stays until the new one is complete"),
        ("the strip's end segment is dark", "check that the strip is not cut beyond a marked cutting point and that the connector clip is fully closed"),
    ]
    for problem, fix in trouble:
        paragraphs.append(f"Troubleshooting: if {problem}, {fix}.")
    features = [
        "Scenes store the colour and brightness of several lamps at once. Create one in the app under Scenes, or save the current state of a room with Save as scene.",
        "Automations start scenes at a time, at sunrise or sunset, when the first person comes home or when the last one leaves. Each can be limited to some days of the week.",
        "The Wake-up routine fades a lamp from off to a chosen brightness over 10 to 60 minutes before an alarm time.",
        "Rooms group lamps so that one tap, one switch or one voice command controls them together. A lamp belongs to one room.",
        "Energy history shows the watt-hours each lamp used per day. Lumen Plus keeps a year of history; without it, the last 30 days are kept.",
        "The Lumen Hub gives local control: schedules, switches and the app on the home network keep working while the internet is down. It also raises the limit from 50 to 200 lamps per home.",
        "Lumen switches are battery-powered and stick to any wall. Each button can turn a room on or off, dim it, or start a scene; the battery lasts about three years.",
        "Strips can be cut at the marked points every 10 cm and extended up to 10 m with extension pieces. The power supply must match the total length.",
    ]
    paragraphs += features
    # More documentation paragraphs: each room and common combination, written out like a help centre page.
    for room in ROOMS:
        lamp = rng.choice(LAMPS)
        paragraphs.append(f"Lighting a {room}: many customers use a {lamp} for the {room}, with a warm white scene in the evening and a brighter "
                          f"cool white for daytime. A Lumen switch by the door turns the whole {room} on or off.")
    while len(paragraphs) < 300:
        product = rng.choice(LAMPS)
        topic = rng.choice(["care", "placement", "power", "safety", "colour", "sound", "guests", "travel", "mounting", "outage"])
        text = {
            "care": f"Caring for the {product}: wipe it with a dry, soft cloth while it is switched off. Do not use solvents or water sprays.",
            "placement": f"Placing the {product}: keep it within good reach of the Wi-Fi router, away from metal cabinets and microwaves that weaken the signal.",
            "power": f"Power use of the {product}: in standby it draws less than 0.3 W. Turning it off at the wall saves that, but then it cannot be controlled or updated.",
            "safety": f"Safety: the {product} is for indoor use in dry places unless marked IP44 or better. Keep the ventilation openings free.",
            "colour": f"Colour range of the {product}: white from 2200 K to 6500 K and 16 million colours. Saturated colours are deepest below 80% brightness.",
            "sound": f"The {product} is silent in use. A faint hum means a wall dimmer is in front of it; replace the dimmer with a normal switch.",
            "guests": f"Guests can use the {product} without the app: the wall switch always works, and a home member can invite them under Home settings, People.",
            "travel": f"Away mode (Lumen Plus) turns the {product} on and off at varied evening times while nobody is home, so the home looks lived in.",
            "mounting": f"Mounting the {product}: use the fittings in the box and keep at least 10 cm from curtains and other fabric.",
            "outage": f"After a power cut the {product} comes back in the state chosen under Settings, Power-on behaviour: last state, on in warm white, or off.",
        }[topic]
        variant = rng.choice(["", " This applies to every lamp of the same series.", " See the quick start guide in the box for pictures.",
                              " The same advice is in the app under Help."])
        if text + variant not in paragraphs:
            paragraphs.append(text + variant)
    return [{"text": p} for p in paragraphs]


def write(name, records):
    with open(HERE / name, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


conversations, seen = [], set()
while len(conversations) < 300:
    record = conversation()
    key = json.dumps(record, sort_keys=True)
    if key not in seen:  # no duplicates: the validator counts them
        seen.add(key)
        conversations.append(record)
write("support-conversations.jsonl", conversations)
write("lumen-corpus.jsonl", corpus())
