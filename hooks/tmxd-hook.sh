#!/bin/sh
# tmxd-managed-hook v1 (@HOOK@)
#
# Installed by `tmxd hooks install`; `tmxd hooks uninstall` removes it and puts
# back the hook that was here before, if any (kept beside it as @HOOK@.pre-tmxd
# and run first, with the same arguments and input; its exit code is ours).
#
# The hook appends one line to tmxd's spool and returns. It runs no Python,
# prints nothing, starts nothing in the background, and never fails the git
# command: tmxd (`tmxd sync` or the daemon) reads the spool later.
#
# Spool line (tab separated):
#   tmxd1 <epoch|-> <hook> <head sha|-> <head ref|-> <argv> <old:new,...|-> <git common dir>
# (prepare-commit-msg, when installed, writes no line: see below.)

tmxd_hook='@HOOK@'
tmxd_fallback=@FALLBACK@
tmxd_rc=0
tmxd_raw=
tmxd_rw=

if [ "$tmxd_hook" = post-rewrite ]; then
	# git writes "<old> <new> [extra]" per rewritten commit on stdin.
	while IFS= read -r tmxd_l || [ -n "$tmxd_l" ]; do
		tmxd_raw="$tmxd_raw$tmxd_l
"
		tmxd_old=${tmxd_l%% *}
		tmxd_new=${tmxd_l#* }
		tmxd_new=${tmxd_new%% *}
		tmxd_rw="$tmxd_rw$tmxd_old:$tmxd_new,"
		tmxd_l=
	done
fi

if [ -f "$0.pre-tmxd" ] && [ -x "$0.pre-tmxd" ]; then
	if [ "$tmxd_hook" = post-rewrite ]; then
		printf '%s' "$tmxd_raw" | "$0.pre-tmxd" "$@"
	else
		"$0.pre-tmxd" "$@"
	fi
	tmxd_rc=$?
fi

exec </dev/null >/dev/null 2>&1
umask 077 # the spool and its folder are the user's alone

# Find the git dir with shell builtins only: git runs hooks at the top of the
# work tree, where .git is a directory or a "gitdir: <path>" file.
tmxd_gd=${GIT_DIR:-}
if [ -z "$tmxd_gd" ]; then
	if [ -d .git ]; then
		tmxd_gd=.git
	elif [ -f .git ]; then
		IFS= read -r tmxd_l <.git
		case $tmxd_l in "gitdir: "*) tmxd_gd=${tmxd_l#gitdir: } ;; esac
	elif [ -f HEAD ] && [ -d objects ]; then
		tmxd_gd=.
	fi
fi
tmxd_cd=${GIT_COMMON_DIR:-$tmxd_gd}
if [ -z "${GIT_COMMON_DIR:-}" ] && [ -f "$tmxd_gd/commondir" ]; then
	IFS= read -r tmxd_l <"$tmxd_gd/commondir"
	case $tmxd_l in /*) tmxd_cd=$tmxd_l ;; *) tmxd_cd=$tmxd_gd/$tmxd_l ;; esac
fi

if [ "$tmxd_hook" = prepare-commit-msg ]; then
	# Opt-in (`tmxd hooks install --suggest-trailer`): when an editor is about
	# to open, offer a commented "# Task: <id>" line for the one subtask in
	# progress. tmxd keeps <common dir>/tmxd/suggest up to date (id, then the
	# tasks.json it was read from); if tasks.json changed since, say nothing.
	[ "$tmxd_rc" -eq 0 ] || exit "$tmxd_rc"
	case ${2:-} in '' | template) ;; *) exit 0 ;; esac
	case $tmxd_cd in /*) ;; *) tmxd_cd=$PWD/$tmxd_cd ;; esac
	tmxd_sg=$tmxd_cd/tmxd/suggest
	[ -f "$tmxd_sg" ] || exit 0
	tmxd_id=
	tmxd_tasks=
	{
		IFS= read -r tmxd_id
		IFS= read -r tmxd_tasks
	} <"$tmxd_sg"
	case $tmxd_id in '' | *[!0-9.]*) exit 0 ;; esac
	if [ -n "$tmxd_tasks" ] && [ "$tmxd_tasks" -nt "$tmxd_sg" ]; then exit 0; fi
	printf '\n# Task: %s\n' "$tmxd_id" >>"$1"
	exit 0
fi

tmxd_head=-
tmxd_ref=-
tmxd_l=
IFS= read -r tmxd_l <"$tmxd_gd/HEAD"
case $tmxd_l in
"ref: "*)
	tmxd_ref=${tmxd_l#ref: }
	tmxd_l=
	if [ -f "$tmxd_gd/$tmxd_ref" ]; then
		IFS= read -r tmxd_l <"$tmxd_gd/$tmxd_ref"
	elif [ -f "$tmxd_cd/$tmxd_ref" ]; then
		IFS= read -r tmxd_l <"$tmxd_cd/$tmxd_ref"
	fi
	tmxd_head=$tmxd_l
	;;
*) tmxd_head=$tmxd_l tmxd_ref=HEAD ;;
esac
case $tmxd_head in
*[!0-9a-f]* | '') tmxd_ok=no ;;
*) if [ ${#tmxd_head} -eq 40 ] || [ ${#tmxd_head} -eq 64 ]; then tmxd_ok=yes; else tmxd_ok=no; fi ;;
esac
if [ $tmxd_ok = no ] || [ -z "$tmxd_gd" ]; then
	# Packed or reftable refs, or an unusual layout: ask git (one process).
	tmxd_l=$(git rev-parse --path-format=absolute --git-common-dir HEAD --symbolic-full-name HEAD 2>/dev/null)
	tmxd_cd=${tmxd_l%%
*}
	tmxd_l=${tmxd_l#*
}
	tmxd_head=${tmxd_l%%
*}
	tmxd_ref=${tmxd_l#*
}
	case $tmxd_head in *[!0-9a-f]* | '') tmxd_head=- ;; esac
	case $tmxd_ref in *'
'* | '') tmxd_ref=- ;; esac
fi
[ -n "$tmxd_cd" ] || exit $tmxd_rc
case $tmxd_cd in /*) ;; *) tmxd_cd=$PWD/$tmxd_cd ;; esac

# post-commit: the commit itself carries the time; other hooks ask the clock.
tmxd_ts=-
[ "$tmxd_hook" = post-commit ] || tmxd_ts=$(date +%s)

tmxd_line="tmxd1	$tmxd_ts	$tmxd_hook	$tmxd_head	$tmxd_ref	$*	${tmxd_rw:--}	$tmxd_cd"
tmxd_sp=$tmxd_cd/tmxd/spool
printf '%s\n' "$tmxd_line" >>"$tmxd_sp" ||
	{ mkdir -p "$tmxd_cd/tmxd" && printf '%s\n' "$tmxd_line" >>"$tmxd_sp"; } ||
	printf '%s\n' "$tmxd_line" >>"$tmxd_fallback"
exit $tmxd_rc
