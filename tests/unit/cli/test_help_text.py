"""Help reads as prose: a command's description is wrapped to the terminal, not broken where its
docstring's source lines happen to end."""

from __future__ import annotations

from typer.testing import CliRunner

from omnistock_cli.main import app


def help_of(*args: str, columns: int) -> str:
    return CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(columns)}).stdout


def test_the_command_list_wraps_each_description_to_the_terminal() -> None:
    """`omnistock --help` at 200 columns showed `bundle` as 'a SKU made of' / 'components, available
    ...' / 'held, sold ...' on three lines: rich help keeps a docstring's single line breaks."""
    listed = help_of(columns=200)
    assert "a SKU made of components, available as far as they allow, held, sold and picked as a whole." in listed
    assert "prints the pickup code and expiry; with --ship-to-store a short store" in listed


def test_a_commands_own_help_wraps_its_paragraphs_to_the_terminal() -> None:
    shown = help_of("mcp", columns=200)
    assert "a token is minted with this environment's secret unless OMNISTOCK_TOKEN" in shown


def test_a_paragraph_marked_to_keep_its_lines_keeps_them() -> None:
    shown = help_of("import", columns=200).splitlines()
    assert any(line.strip().startswith("skus.csv") for line in shown)
    assert any(line.strip().startswith("stock.csv") for line in shown)


def test_the_sku_search_help_says_every_word_is_looked_for_in_code_title_and_attributes() -> None:
    """`omnistock skus green velvet sofa` finds "Velvet sofa, 3-seater" whose colour is green: the
    help named the code and the title only."""
    shown = " ".join(help_of("skus", columns=200).split())
    assert "Words the SKU must all have, each in its code, title or an attribute value" in shown
