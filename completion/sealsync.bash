# bash completion for sealsync.
# Commands come from `sealsync help`, each command's options from
# `sealsync COMMAND --help` (so they cannot drift from the program), region
# names from `sealsync list` and device ids from `sealsync members NAME --json`
# (or `requests NAME --json` for approve).  Installed by `make install` into
# $(BASHCOMPDIR) (bash-completion loads it on demand).

# Prints the commands `sealsync help` lists.
_sealsync_commands()
{
    "$1" help 2>/dev/null | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }'
}

# Prints the long and short options `sealsync CMD --help` names.
_sealsync_options()
{
    "$1" "$2" --help 2>/dev/null | grep -oE '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' |
        sed -E 's/^[^-]*//' | sort -u
}

# The options `sealsync mount -o` accepts (cli/cmd_mount.c; dev and suid are
# refused there, so not offered; 71-mount-options.t checks each is accepted).
_sealsync_mount_opts='allow_other allow_root auto_unmount default_permissions max_read= ro rw
nonempty noatime nodev nosuid noexec exec sync async dirsync'

# Prints this device's region names.
_sealsync_regions()
{
    "$1" list 2>/dev/null | awk 'NR > 1 { print $1 }'
}

# Prints the device ids of region $3 (from `sealsync $2 $3 --json`).
_sealsync_devices()
{
    "$1" "$2" "$3" --json 2>/dev/null | grep -oE '"device_id":"[0-9a-f]+"' | cut -d'"' -f4 | sort -u
}

_sealsync()
{
    local cur prog cmd i
    local -a operands
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prog=${COMP_WORDS[0]}
    command -v "$prog" >/dev/null 2>&1 || prog=sealsync

    if [ "$COMP_CWORD" -eq 1 ]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W '--help --version' -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$(_sealsync_commands "$prog")" -- "$cur")
        fi
        return 0
    fi
    cmd=${COMP_WORDS[1]}

    # An option's value: files where the option names one, nothing guessable otherwise.
    case ${COMP_WORDS[COMP_CWORD - 1]} in
    --passphrase-file | --new-passphrase-file | --words-file | --*-file)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
        ;;
    --role) mapfile -t COMPREPLY < <(compgen -W 'reader writer admin' -- "$cur"); return 0 ;;
    --cipher) mapfile -t COMPREPLY < <(compgen -W 'aes256gcm xchacha20poly1305' -- "$cur"); return 0 ;;
    --history) mapfile -t COMPREPLY < <(compgen -W 'all owner' -- "$cur"); return 0 ;;
    --extpass) mapfile -t COMPREPLY < <(compgen -c -- "$cur"); return 0 ;;
    -o)
        # mount -o a,b,c: complete the word after the last comma.
        if [ "$cmd" = mount ]; then
            local pre=
            [[ $cur == *,* ]] && pre=${cur%,*},
            mapfile -t COMPREPLY < <(compgen -P "$pre" -W "$_sealsync_mount_opts" -- "${cur##*,}")
            [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
        fi
        return 0
        ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_sealsync_options "$prog" "$cmd")" -- "$cur")
        return 0
    fi

    # Operands typed so far: options skipped, with the value of those that take one.
    operands=()
    for ((i = 2; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --passphrase-file | --new-passphrase-file | --words-file | --role | --cipher | --history | \
            --store | --owner | --code | --timeout | --grace | --cutoff | --max-key-age | --clear | --name | --kdf | \
            --block-size | --expires | --revoke | --extpass | -o)
            i=$((i + 1))
            ;;
        -*) ;;
        *) operands+=("${COMP_WORDS[i]}") ;;
        esac
    done

    case $cmd in
    help)
        [ ${#operands[@]} -eq 0 ] &&
            mapfile -t COMPREPLY < <(compgen -W "$(_sealsync_commands "$prog")" -- "$cur")
        ;;
    umount)
        [ ${#operands[@]} -eq 0 ] && mapfile -t COMPREPLY < <(compgen -d -- "$cur")
        ;;
    mount)
        case ${#operands[@]} in
        0) mapfile -t COMPREPLY < <(compgen -W "$(_sealsync_regions "$prog")" -- "$cur") ;;
        1) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
        esac
        ;;
    pin)
        case ${#operands[@]} in
        0) mapfile -t COMPREPLY < <(compgen -W "$(_sealsync_regions "$prog")" -- "$cur") ;;
        1) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        esac
        ;;
    revoke | role | approve)
        case ${#operands[@]} in
        0) mapfile -t COMPREPLY < <(compgen -W "$(_sealsync_regions "$prog")" -- "$cur") ;;
        1)
            local src=members
            [ "$cmd" = approve ] && src=requests
            mapfile -t COMPREPLY < <(compgen -W "$(_sealsync_devices "$prog" "$src" "${operands[0]}")" -- "$cur")
            ;;
        2) [ "$cmd" = role ] && mapfile -t COMPREPLY < <(compgen -W 'reader writer admin' -- "$cur") ;;
        esac
        ;;
    status | alarms | conflicts | sync | invite | requests | members | log | rotate | rekey | policy | verify | gc | \
        checkpoint | recovery-key | forget)
        [ ${#operands[@]} -eq 0 ] &&
            mapfile -t COMPREPLY < <(compgen -W "$(_sealsync_regions "$prog")" -- "$cur")
        ;;
    esac
    return 0
}
complete -F _sealsync sealsync
