"""`make demo` keeps working: the demo runs end to end on the local stack and captures every channel."""

from leadtide_local import demo


def test_demo_captures_scores_and_grades_a_lead_from_every_channel(capsys):
    # When the demo runs from the repo alone (its payloads ship in infra/local/demo_data)
    assert demo.main() == 0
    out = capsys.readouterr().out
    # Then it printed a scored, graded lead per channel and explained the top one
    for channel in ("whatsapp", "instagram", "twilio", "web_form"):
        assert f" {channel} " in out
    assert "rejected" in out and "invalid_signature" in out
    # Provider channels connect pending; their first signed delivery activated each of them
    assert out.count(" pending ") == 4 and "channel status after the first signed deliveries" in out
    assert out.count(" active\n") == 5
    assert "Why Maya Okafor is hot" in out
    assert "5 total" in out  # the duplicate delivery made no second lead
