"""The predict page against a real gateway, through NiceGUI's simulated user."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing.user import User

from ml.contract import HouseFeatures
from ml.predict import Predictor
from webui.components.confidence import confidence_grade, grade_scale, half_width_share
from webui.components.formatting import money
from webui.pages.predict import COMPARABLES_SHOWN


async def test_form_offers_the_models_categories(user: User, predictor: Predictor) -> None:
    await user.open("/")
    await user.should_see("Price a house")
    select = user.find(marker="input-location").elements.pop()
    await user.should_see(f"Serving model version {predictor.version}", retries=100)
    assert isinstance(select, ui.select)
    known = predictor.card.categories["location"]
    assert isinstance(select.options, dict)  # value -> label
    assert list(select.options)[: len(known)] == known
    # A location of the data the training split lacks is offered, labelled as unknown.
    assert list(select.options)[len(known) :] == ["Landmark"]
    assert select.options["Landmark"] == (
        "Landmark · not in training (1 sale in the data): scored as unknown"
    )
    profile = predictor.card.profile
    assert profile is not None
    counts = profile["categorical"]["location"]["counts"]
    rare = [name for name in known if counts[name] < 5]
    assert rare, "the training split has no rare location to label"
    for name in rare:
        assert select.options[name].startswith(f"{name} · rare in training ({counts[name]} sale")
    assert select.options["North Ames"] == "North Ames"
    condition = user.find(marker="input-condition").elements.pop()
    assert isinstance(condition, ui.select)
    conditions = predictor.card.categories["condition"]
    assert list(condition.options)[: len(conditions)] == conditions


async def _price_2000_sqft(user: User, predictor: Predictor, *, shown: str) -> HouseFeatures:
    """Price the form's default house at 2,000 sqft; wait for ``shown``; the house sent."""
    await user.open("/")
    await user.should_see(f"Serving model version {predictor.version}", retries=100)
    user.find(marker="input-sqft").clear().type("2000")
    user.find(marker="predict-button").click()
    await user.should_see(marker=shown, retries=100)
    return HouseFeatures(
        sqft=2000,
        bedrooms=3,
        bathrooms=1.5,
        location="North Ames",
        year_built=1960,
        condition="Average",
    )


async def test_predict_shows_the_models_price_interval_and_explanation(
    user: User, predictor: Predictor
) -> None:
    house = await _price_2000_sqft(user, predictor, shown="contributions-chart")
    expected = predictor.predict_one(house, explain=True)
    await user.should_see(money(expected.predicted_price))
    await user.should_see(f"{money(expected.interval.low)} – {money(expected.interval.high)}")
    share = half_width_share(expected.interval, expected.predicted_price)
    await user.should_see(f"Confidence {confidence_grade(share)}")
    await user.should_see(f"the interval is ±{share:.0%} of the price")
    await user.should_see(grade_scale())
    await user.should_see(f"Model version {expected.model_version}")
    chart = user.find(marker="contributions-chart").elements.pop()
    assert isinstance(chart, ui.echart)
    bars = chart.options["series"][0]["data"]
    assert expected.contributions is not None
    assert sorted(round(b["value"], 2) for b in bars) == sorted(
        round(v, 2) for v in expected.contributions.values()
    )


async def test_predict_lists_the_comparable_sales_the_gateway_returned(
    user: User, predictor: Predictor
) -> None:
    house = await _price_2000_sqft(user, predictor, shown="comparables-table")
    expected = predictor.predict_one(house, comparables=COMPARABLES_SHOWN).comparables
    assert expected is not None
    await user.should_see(money(expected.median_adjusted_price))
    table = user.find(marker="comparables-table").elements.pop()
    assert isinstance(table, ui.table)
    assert [(r["price"], r["adjusted"]) for r in table.rows] == [
        (money(s.sale_price), money(s.adjusted_price)) for s in expected.sales
    ]
    chart = user.find(marker="comparables-chart").elements.pop()
    assert isinstance(chart, ui.echart)
    adjusted = chart.options["series"][1]["data"]
    assert adjusted == [round(s.adjusted_price, 2) for s in expected.sales]


async def test_out_of_range_input_is_flagged_and_not_sent(user: User) -> None:
    await user.open("/")
    user.find(marker="input-sqft").clear().type("50")
    sqft = user.find(marker="input-sqft").elements.pop()
    assert isinstance(sqft, ui.number)
    assert sqft.error == "Must be at least 100"
    user.find(marker="predict-button").click()
    await user.should_see("Please fix the highlighted fields.")
    await user.should_not_see(marker="predicted-price")


async def test_unknown_location_scores_with_a_warning(user: User, predictor: Predictor) -> None:
    await user.open("/")
    await user.should_see(f"Serving model version {predictor.version}", retries=100)
    select = user.find(marker="input-location").elements.pop()
    assert isinstance(select, ui.select)
    select.set_value(None)
    select.set_options([*select.options, "Atlantis"], value="Atlantis")
    user.find(marker="predict-button").click()
    await user.should_see(marker="contributions-chart", retries=100)
    warnings = user.find(marker="prediction-warnings").elements.pop()
    texts = [child.text for child in warnings.descendants() if isinstance(child, ui.label)]
    assert any("Atlantis" in text or "location" in text.lower() for text in texts), texts


async def test_every_page_has_a_title_a_favicon_and_labelled_inputs(user: User) -> None:
    for path, title in [
        ("/", "Price a house"),
        ("/batch", "Score a CSV"),
        ("/jobs", "Batch jobs"),
        ("/model", "The model"),
    ]:
        response = await user.http_client.get(path)
        assert f"<title>{title} · House Price Predictor</title>" in response.text
        assert '<link href="/favicon.ico" rel="shortcut icon" />' in response.text
    await user.open("/")
    for element in user.find(kind=ui.number).elements | user.find(kind=ui.select).elements:
        assert element.props.get("label"), element


async def test_the_form_reads_an_underscored_location_as_the_name(
    user: User, predictor: Predictor
) -> None:
    await user.open("/")
    await user.should_see(f"Serving model version {predictor.version}", retries=100)
    select = user.find(marker="input-location").elements.pop()
    assert isinstance(select, ui.select)
    assert isinstance(select.options, dict)
    select.set_options({**select.options, "North_Ames": "North_Ames"}, value="North_Ames")

    assert select.value == "North Ames"
    assert "North_Ames" not in select.options
    assert select.props["hint"] == "Read 'North_Ames' as North Ames"
    user.find(marker="predict-button").click()
    await user.should_see(marker="contributions-chart", retries=100)
    house = HouseFeatures(
        sqft=1656,
        bedrooms=3,
        bathrooms=1.5,
        location="North Ames",
        year_built=1960,
        condition="Average",
    )
    await user.should_see(money(predictor.predict_one(house).predicted_price))


async def test_the_form_flags_a_near_miss_with_its_suggestion(
    user: User, predictor: Predictor
) -> None:
    await user.open("/")
    await user.should_see(f"Serving model version {predictor.version}", retries=100)
    select = user.find(marker="input-location").elements.pop()
    assert isinstance(select, ui.select)
    assert isinstance(select.options, dict)
    select.set_options({**select.options, "Nrth Ames": "Nrth Ames"}, value="Nrth Ames")

    user.find(marker="predict-button").click()

    await user.should_see("Please fix the highlighted fields.")
    assert select.error == "'Nrth Ames' is not a known location, did you mean 'North Ames'?"
    await user.should_not_see(marker="predicted-price")
