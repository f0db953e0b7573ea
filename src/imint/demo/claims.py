"""The sample case's claims: facts of a public news report of October 2024, in our words.

Each claim keeps its source, figure (as a range with a unit), dates and places as
the report gave them; the Admiralty grades are ours, with the reasoning beside
them. ``published`` is the day of the news report that carried the statements.
"""

from __future__ import annotations

CASE_NAME = "dprk-troops-russia-2024"
CASE_TITLE = "North Korean troops sent to Russia (October 2024)"
CASE_SUMMARY = (
    "Did North Korea send troops to Russia in October 2024, how many, and where are they? "
    "Sources disagree on the number (1,500 moved so far; 10,000 being prepared; up to 12,000 in all). "
    "This sample case shows how imint grades each claim, compares the figures, and ties imagery to the claims. "
    "Its imagery is NOT evidence about these events: the photos are public-domain pictures of stand-in "
    "people (Rear Admiral Grace Hopper, US Navy; astronaut Eileen Collins, NASA) shipped inside Python "
    "packages, and the SAR scenes of the port are SIMULATED by software."
)

TROOPS_SENT = "North Korean troops sent to Russia"
NEWS_REPORT = "statement carried by a public news report of 18 October 2024"
REPORT_DAY = "2024-10-18"

# Keys are stable handles the demo uses to link evidence; the text is what is stored.
CLAIMS: list[dict] = [
    {
        "key": "shipped-1500",
        "text": (
            "Russian Navy ships carried 1,500 North Korean special-operations troops to Vladivostok "
            "between 8 and 13 October 2024."
        ),
        "source": "National Intelligence Service (NIS), South Korea",
        "source_type": "government intelligence service",
        "publication": NEWS_REPORT,
        "published_on": REPORT_DAY,
        "reliability": "B",
        "credibility": 2,
        "grading_note": (
            "B: a national intelligence service with a long record on North Korea, but a party with its own "
            "interests. 2: specific (unit, number, dates, port), published with imagery of ship movements, "
            "consistent with Ukraine's warning; not yet confirmed by an independent source."
        ),
        "figure": "1500 troops",
        "quantity": TROOPS_SENT,
        "dates": "2024-10-08/2024-10-13",
        "places": ["Vladivostok"],
        "status": "unconfirmed",
        "status_note": "Not independently confirmed at the time of the report.",
    },
    {
        "key": "disguised-training",
        "text": (
            "The troops were given Russian uniforms, weapons and forged Russian identity papers, and are "
            "training at bases in Vladivostok, Ussuriysk, Khabarovsk and Blagoveshchensk."
        ),
        "source": "National Intelligence Service (NIS), South Korea",
        "source_type": "government intelligence service",
        "publication": NEWS_REPORT,
        "published_on": REPORT_DAY,
        "reliability": "B",
        "credibility": 3,
        "grading_note": (
            "B as above. 3: plausible and consistent with the shipment claim, but uniforms and papers cannot "
            "be checked from the published imagery."
        ),
        "dates": "2024-10",
        "places": ["Vladivostok", "Ussuriysk", "Khabarovsk", "Blagoveshchensk, RU"],
        "status": "unconfirmed",
    },
    {
        "key": "imagery-published",
        "text": (
            "The NIS released satellite and other photos showing Russian Navy ship movements near a North "
            "Korean port and suspected mass gatherings of North Koreans in Ussuriysk and Khabarovsk."
        ),
        "source": "National Intelligence Service (NIS), South Korea",
        "source_type": "government intelligence service",
        "publication": NEWS_REPORT,
        "published_on": REPORT_DAY,
        "reliability": "B",
        "credibility": 2,
        "grading_note": (
            "B as above. 2: the imagery exists and was published; what it shows (who gathered, why ships "
            "moved) is the NIS's interpretation. Ship movement at a port is what SAR change detection can test."
        ),
        "dates": "2024-10",
        "places": ["Ussuriysk", "Khabarovsk"],
        "status": "unconfirmed",
    },
    {
        "key": "officers-donetsk",
        "text": (
            "North Korean officers are already in Russian-occupied Donetsk; they were identified with "
            "facial-recognition AI together with Ukrainian intelligence."
        ),
        "source": "National Intelligence Service (NIS), South Korea",
        "source_type": "government intelligence service",
        "publication": NEWS_REPORT,
        "published_on": REPORT_DAY,
        "reliability": "B",
        "credibility": 3,
        "grading_note": (
            "B as above. 3: face recognition gives candidates with an error rate, not identities; neither the "
            "photos, the reference images nor the error rates were published."
        ),
        "places": ["Donetsk, UA"],
        "status": "unconfirmed",
    },
    {
        "key": "more-to-come-12000",
        "text": (
            "More North Korean troops will be sent soon; unconfirmed reports put the total as high as 12,000."
        ),
        "source": "National Intelligence Service (NIS), South Korea",
        "source_type": "government intelligence service",
        "publication": NEWS_REPORT,
        "published_on": REPORT_DAY,
        "reliability": "B",
        "credibility": 4,
        "grading_note": (
            "B as above. 4: the NIS itself calls the 12,000 figure unconfirmed and gives no basis for it; it may "
            "share its origin with the news agency's figure, so the two do not corroborate each other."
        ),
        "figure": "up to 12000 troops",
        "quantity": TROOPS_SENT,
        "dates": "2024-10/2024-12",
        "status": "unconfirmed",
    },
    {
        "key": "ukraine-10000",
        "text": "North Korea is preparing to deploy 10,000 soldiers to fight for Russia.",
        "source": "President of Ukraine",
        "source_type": "head of state (party to the war)",
        "publication": NEWS_REPORT,
        "published_on": REPORT_DAY,
        "reliability": "C",
        "credibility": 3,
        "grading_note": (
            "C: a head of state at war, citing his intelligence services, with a strong interest in the claim. "
            "3: consistent in order of magnitude with the NIS figures; no basis published."
        ),
        "figure": "10000 troops",
        "quantity": TROOPS_SENT,
        "dates": "2024-10",
        "status": "unconfirmed",
    },
    {
        "key": "agency-12000",
        "text": "12,000 North Korean soldiers have already been dispatched to Russia (not confirmed).",
        "source": "A South Korean news agency",
        "source_type": "news agency",
        "publication": NEWS_REPORT,
        "published_on": REPORT_DAY,
        "reliability": "C",
        "credibility": 4,
        "grading_note": (
            "C: an established agency relaying an unnamed source. 4: says 'already dispatched', while the NIS "
            "counts 1,500 moved so far and expects more; the agency itself says it is not confirmed."
        ),
        "figure": "12000 troops",
        "quantity": TROOPS_SENT,
        "dates": "2024-10",
        "status": "unconfirmed",
    },
    {
        "key": "context-1.2m",
        "text": "North Korea has about 1.2 million troops, with little combat experience.",
        "source": "Background given in the news report",
        "source_type": "news report (context)",
        "publication": NEWS_REPORT,
        "published_on": REPORT_DAY,
        "reliability": "B",
        "credibility": 2,
        "grading_note": "B2: a long-standing, widely repeated estimate; context for the size of the deployment.",
        "figure": "1200000 troops",
        "quantity": "North Korean armed forces, total",
        "status": "claimed",
    },
]
