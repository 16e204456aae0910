"""Ansible host patterns (`--limit`), evaluated over the hosts of an inventory already read.

The semantics are ansible-core's (InventoryManager.get_hosts / subset, docs "Patterns: targeting hosts and
groups"); tests/unit/test_host_patterns.py compares every case with ansible-core itself:

- a list is comma-separated (`a,b`); without a comma, colon-separated (`a:b`) as Ansible still accepts;
- a term is a host or group name, a shell glob (`nw-hmi-*`, `nw-scada-[ab]`), or a regex after `~`
  (`~nw-(hmi|plc)-0[12]`, matched from the start of the name as Ansible's `re.match`);
- a glob or regex is tried on group names and on host names; a plain name that is a group gives its hosts;
- `&term` keeps only hosts also in term (intersection), `!term` removes term's hosts (exclusion);
  plain terms are unioned first, then every `&`, then every `!`, in that order whatever their position;
  a pattern of only `&`/`!` terms starts from `all`;
- `@file` reads more terms from a file, one per line (as `ansible-playbook --limit @retry_file`).

Two deliberate differences, both refusals (safety first: a limit must never select other hosts than meant):
a term that matches no host and no group is an error with the closest names (Ansible warns and ignores it),
(including a group whose hosts are none of them OT assets), and subscripts (`webservers[0]`, `web[0:2]`,
and so also digit brackets such as `nw-plc-0[12]`, which Ansible reads as a subscript) are refused because
they depend on Ansible's internal host order, which otorch does not reproduce.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ALL = "all"
UNGROUPED = "ungrouped"

# ansible-core's PATTERN_WITH_SUBSCRIPT (inventory/manager.py)
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
# ansible-core's split_host_pattern for a colon-separated list: runs of non-`:` text or whole [..] groups
_COLON_TERMS = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_GLOB_CHARS = (".", "?", "*", "[")


class HostPatternError(ValueError):
    """A pattern that cannot be evaluated (bad regex, subscript, unreadable @file, no match)."""


@dataclass(frozen=True)
class HostSelection:
    hosts: tuple[str, ...]  # in the order of the inventory's hosts
    terms: tuple[str, ...]  # the terms evaluated, in Ansible's order (plain, then &, then !)


def split_pattern(pattern: str) -> list[str]:
    """The terms of one pattern string, as ansible-core's split_host_pattern."""
    if "," in pattern:
        parts = pattern.split(",")
    elif _is_single_term(pattern):
        parts = [pattern]
    else:
        parts = _COLON_TERMS.findall(pattern)
    return [p.strip() for p in parts if p.strip()]


def _is_single_term(pattern: str) -> bool:
    """No colon list: no colon at all, a colon only inside a [x:y] range, or an IPv6-looking address."""
    outside = re.sub(r"\[[^\]]*\]", "", pattern)
    if ":" not in outside:
        return True
    return outside.count(":") >= 2 and re.fullmatch(r"[0-9A-Fa-f:.]+", outside) is not None


def expand_files(terms: Iterable[str], read: Callable[[Path], str]) -> list[str]:
    """Terms with each `@file` replaced by the file's lines (blank lines dropped)."""
    out: list[str] = []
    for term in terms:
        if not term.startswith("@"):
            out.append(term)
            continue
        path = Path(term[1:])
        try:
            text = read(path)
        except OSError as exc:
            raise HostPatternError(f"limit file {path}: {exc.strerror or exc}") from exc
        out.extend(line.strip() for line in text.splitlines() if line.strip())
    return out


def order_terms(terms: Sequence[str]) -> list[str]:
    """Plain terms first, then intersections, then exclusions; `all` when there is no plain term."""
    plain = [t for t in terms if t[0] not in "&!"]
    both = [t for t in terms if t[0] == "&"]
    minus = [t for t in terms if t[0] == "!"]
    return (plain or [ALL]) + both + minus


def select_hosts(
    pattern: str | Sequence[str],
    members: Mapping[str, Iterable[str]],
    *,
    read: Callable[[Path], str] = lambda p: p.read_text(encoding="utf-8"),
) -> HostSelection:
    """The hosts of `members` (host -> its groups, ancestors included) that `pattern` selects.

    Raises HostPatternError naming every term that matches nothing, with the closest host or group names.
    """
    raw = [pattern] if isinstance(pattern, str) else list(pattern)
    terms = order_terms(expand_files((t for p in raw for t in split_pattern(p)), read))
    hosts = list(members)
    groups: dict[str, list[str]] = {ALL: list(hosts)}
    for host in hosts:
        own = [g for g in members[host] if g not in (ALL, UNGROUPED)]
        for group in own or [UNGROUPED]:
            groups.setdefault(group, []).append(host)
    chosen: list[str] = []
    unmatched: list[str] = []
    for term in terms:
        prefixed = term[0] in "&!"
        # a plain term that is a host name is that host (Ansible's shortcut, before any group)
        matched = (
            [term]
            if not prefixed and term in members
            else _match_term(term[1:] if prefixed else term, hosts, groups)
        )
        if matched is None:
            unmatched.append(term)
            continue
        if term[0] == "!":
            drop = set(matched)
            chosen = [h for h in chosen if h not in drop]
        elif term[0] == "&":
            keep = set(matched)
            chosen = [h for h in chosen if h in keep]
        else:
            seen = set(chosen)
            chosen.extend(h for h in matched if h not in seen)
    if unmatched:
        raise HostPatternError(_no_match_message(unmatched, hosts, groups))
    selected = set(chosen)
    return HostSelection(hosts=tuple(h for h in hosts if h in selected), terms=tuple(terms))


def _match_term(term: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]]) -> list[str] | None:
    """The hosts of one term (without its &/! prefix); None when it names no host and no group."""
    if not term:
        raise HostPatternError("an empty term after & or !")
    if term[0] != "~" and _SUBSCRIPT.match(term):
        raise HostPatternError(
            f"{term!r}: subscripts ([0], [0:2]) depend on Ansible's internal host order and are not "
            "supported (Ansible reads digit brackets such as nw-plc-0[12] as one): name the hosts, or use "
            "a ~regex such as ~nw-plc-0[12]"
        )
    regex = _compile(term)
    matching_groups = [g for g in groups if regex.match(g)]
    found: list[str] = []
    for group in matching_groups:
        found.extend(groups[group])
    if not matching_groups or term[0] == "~" or any(c in term for c in _GLOB_CHARS):
        found.extend(h for h in hosts if regex.match(h))
    if not found and not matching_groups:
        return None
    return list(dict.fromkeys(found))


def _compile(term: str) -> re.Pattern[str]:
    try:
        return re.compile(term[1:] if term[0] == "~" else fnmatch.translate(term))
    except re.error as exc:
        raise HostPatternError(
            f"{term!r}: not a valid {'regex' if term[0] == '~' else 'pattern'}: {exc}"
        ) from exc


def _no_match_message(unmatched: Sequence[str], hosts: Sequence[str], groups: Mapping[str, object]) -> str:
    names = sorted(set(hosts) | set(groups))
    parts = []
    for term in unmatched:
        bare = term.lstrip("&!~")
        close = difflib.get_close_matches(bare, names, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        parts.append(f"{term}{hint}")
    return "matches no OT asset and no group with one in the inventory: " + "; ".join(parts)
