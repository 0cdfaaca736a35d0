"""Results of statements, and the token a helper created."""

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = ["Result", "CreatedToken"]


class Result(list):
    """The result of one statement: a list of rows as dicts (column name -> value).

    ``columns`` lists the column names, ``rows`` the rows as tuples, ``message`` and
    ``affected`` say what a statement without a table did, ``statement`` is its kind
    (``"SHOW API TOKENS"``) and ``line`` the line it starts on. ``to_pandas()`` (or ``.df``)
    gives a pandas DataFrame; ``print(result)`` a table.
    """

    def __init__(
        self,
        columns: Sequence[str] = (),
        rows: Iterable[Sequence[Any]] = (),
        *,
        statement: Optional[str] = None,
        line: Optional[int] = None,
        affected: Optional[int] = None,
        message: Optional[str] = None,
    ):
        self.columns: List[str] = list(columns)
        self.rows: List[Tuple[Any, ...]] = [tuple(row) for row in rows]
        self.statement = statement
        self.line = line
        self.affected = affected
        self.message = message
        super().__init__(dict(zip(self.columns, row)) for row in self.rows)

    @classmethod
    def from_json(cls, result: Dict[str, Any]) -> "Result":
        """A result of the API (``{"statement", "line", "columns", "rows", "affected", "message"}``)."""
        return cls(
            result.get("columns") or (),
            result.get("rows") or (),
            statement=result.get("statement"),
            line=result.get("line"),
            affected=result.get("affected"),
            message=result.get("message"),
        )

    def column(self, name: str) -> List[Any]:
        """The values of one column, in row order."""
        try:
            index = self.columns.index(name)
        except ValueError:
            raise KeyError(f"no column {name!r}; the columns are {', '.join(self.columns) or '(none)'}") from None
        return [row[index] for row in self.rows]

    def to_pandas(self):
        """The result as a pandas DataFrame (needs pandas: ``pip install pandas``)."""
        try:
            import pandas
        except ImportError as err:
            raise ImportError(
                "jeton: Result.to_pandas() needs pandas, which is not installed here; "
                "install it with `pip install pandas` (or `pip install 'jeton-client[pandas]'`), "
                "or use the result as a list of dicts (result.columns, result.rows)"
            ) from err
        return pandas.DataFrame([list(row) for row in self.rows], columns=self.columns)

    @property
    def df(self):
        """Same as :meth:`to_pandas`."""
        return self.to_pandas()

    def __repr__(self) -> str:
        what = f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''}" if self.columns else repr(self.message)
        return f"<Result {self.statement or 'statement'}: {what}>"

    def __str__(self) -> str:
        if not self.columns:
            return self.message or (f"{self.affected} affected" if self.affected is not None else "")
        cells = [[_cell(v) for v in row] for row in self.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(self.columns)]
        rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

        def line(values: Sequence[str]) -> str:
            return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"

        return "\n".join([rule, line(self.columns), rule, *(line(r) for r in cells), rule])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CreatedToken:
    """A token a helper created. ``value`` (also ``token``) is shown once and never stored by
    the server; ``repr()`` and ``str()`` leave it out. ``record`` is the token's full record."""

    __slots__ = ("value", "id", "name", "expires_at", "record")

    def __init__(self, value: str, record: Dict[str, Any]):
        self.value = value
        self.record = {k: v for k, v in record.items() if k != "token"}
        self.id: str = self.record.get("id", "")
        self.name: str = self.record.get("name", "")
        self.expires_at: Optional[str] = self.record.get("expires_at")

    @property
    def token(self) -> str:
        return self.value

    def __getattr__(self, name: str) -> Any:
        # The other fields of the record: comment, scopes, username, created_at, ...
        if name.startswith("_") or name == "record":
            raise AttributeError(name)
        try:
            return self.record[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"CreatedToken(name={self.name!r}, id={self.id!r}, expires_at={self.expires_at!r}, value=<hidden>)"

    __str__ = __repr__
