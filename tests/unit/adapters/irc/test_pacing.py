"""The bot paces itself and one person's flood never drowns the others."""

from __future__ import annotations

from adapters.irc.pacing import PersonRateLimit, TokenBucket, Verdict


def test_bucket_allows_a_burst_then_paces_at_the_rate() -> None:
    bucket = TokenBucket(burst=3, rate=2.0, updated=0.0)
    assert [bucket.try_take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time(0.0) == 0.5
    assert bucket.try_take(0.5)
    assert not bucket.try_take(0.5)


def test_flooder_is_told_once_and_ignored_until_quiet_while_others_pass() -> None:
    limit = PersonRateLimit(burst=5, rate=1.0)
    verdicts = [limit.check("alice", 0.001 * i) for i in range(1000)]
    assert verdicts[:5] == [Verdict.ACCEPT] * 5
    assert verdicts.count(Verdict.WARN) == 1
    assert verdicts[6:] == [Verdict.DROP] * 994
    assert limit.check("dave", 1.0) is Verdict.ACCEPT
    assert limit.check("alice", 1.5) is Verdict.DROP  # still flooding: not calm yet
    assert limit.check("alice", 1.5 + limit.calm_down) is Verdict.ACCEPT  # calmed down


def test_memory_stays_bounded_with_many_people() -> None:
    limit = PersonRateLimit(burst=2, rate=1.0, max_people=100)
    for i in range(1000):
        limit.check(f"p{i}", float(i))
    assert len(limit._people) <= 100
