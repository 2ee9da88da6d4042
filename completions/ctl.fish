# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_ctl_global_optspecs
    string join \n server= api-key= o/output= color= v/verbose q/quiet icons= timestamps= context= config= certificate-authority= insecure-skip-tls-verify h/help V/version
end

function __fish_ctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_ctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_ctl_using_subcommand
    set -l cmd (__fish_ctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c ctl -n "__fish_ctl_needs_command" -l server -d 'Platform server base URL [default: http://localhost:8081]' -r
complete -c ctl -n "__fish_ctl_needs_command" -l api-key -d 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)' -r
complete -c ctl -n "__fish_ctl_needs_command" -s o -l output -d 'Output format: human-readable text, or one JSON object per line on stdout' -r -f -a "text\t'Timestamped lines with icons, for people'
json\t'One JSON object per line (NDJSON), for scripts'
wide\t'Text with more columns (`ctl list`, `ctl status`); other commands treat it as text'"
complete -c ctl -n "__fish_ctl_needs_command" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb'
always\t'Always colour'
never\t'Never colour'"
complete -c ctl -n "__fish_ctl_needs_command" -l icons -d 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)' -r -f -a "auto\t'Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set'
unicode\t'Always emoji'
ascii\t'Always plain ASCII markers'"
complete -c ctl -n "__fish_ctl_needs_command" -l timestamps -d 'Timestamp column of event lines' -r -f -a "local\t'`[15:04:01]` in local time'
utc\t'`[14:04:01]` in UTC'
relative\t'`[+12.3s]` since the command started'
none\t'No timestamp'"
complete -c ctl -n "__fish_ctl_needs_command" -l context -d 'Named context from the config file: its server and API key (overrides current-context)' -r
complete -c ctl -n "__fish_ctl_needs_command" -l config -d 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]' -r -F
complete -c ctl -n "__fish_ctl_needs_command" -l certificate-authority -d 'PEM file of the certificate authorities to trust for an https server, instead of the system\'s' -r -F
complete -c ctl -n "__fish_ctl_needs_command" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_needs_command" -s q -l quiet -d 'Print only the essential output (event lines or JSON); no banners or notes'
complete -c ctl -n "__fish_ctl_needs_command" -l insecure-skip-tls-verify -d 'Do not check the https server\'s certificate (insecure: for test servers only; warns on every run)'
complete -c ctl -n "__fish_ctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ctl -n "__fish_ctl_needs_command" -s V -l version -d 'Print version'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "deploy" -d 'Submit a Score spec to the platform server, and optionally watch it deploy'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "watch" -d 'Follow an application\'s events, or one deployment to its end'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "status" -d 'Show an application: its latest deployment and its resources'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "list" -d 'List applications (-o wide for more columns, -o json for scripts)'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "delete" -d 'Delete an application and its resources, optionally watching the teardown'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "validate" -d 'Check Score spec files locally, without a server (exit 0 if valid, 2 if not)'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "completion" -d 'Print a shell completion script to stdout'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "man" -d 'Print the man page (roff) to stdout'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "server" -d 'Run the bundled reference platform server'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "config" -d 'Show the config file\'s contexts, or switch the current one'
complete -c ctl -n "__fish_ctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l timeout -d 'Stop watching after this long, e.g. 90s, 10m, 1h30m (exit code 3)' -r
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l idle-timeout -d 'Declare the event stream dead after this long without a byte (keep-alives count), and reconnect; keep it above the server\'s keep-alive interval (15s on ctl server, 30s on innominatus)' -r
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l retry-budget -d 'Keep reconnecting a lost event stream for this long before giving up (exit code 5); a stream back within it resumes where it left off' -r
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l max-event-size -d 'Skip (with a note on stderr) any event larger than this, e.g. 1MiB, 256KiB, 4MiB (a bare number means bytes; at least 1KiB)' -r
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l providers -d 'Provider catalogue (YAML) for the --local server' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l server -d 'Platform server base URL [default: http://localhost:8081]' -r
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l api-key -d 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)' -r
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -s o -l output -d 'Output format: human-readable text, or one JSON object per line on stdout' -r -f -a "text\t'Timestamped lines with icons, for people'
json\t'One JSON object per line (NDJSON), for scripts'
wide\t'Text with more columns (`ctl list`, `ctl status`); other commands treat it as text'"
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb'
always\t'Always colour'
never\t'Never colour'"
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l icons -d 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)' -r -f -a "auto\t'Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set'
unicode\t'Always emoji'
ascii\t'Always plain ASCII markers'"
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l timestamps -d 'Timestamp column of event lines' -r -f -a "local\t'`[15:04:01]` in local time'
utc\t'`[14:04:01]` in UTC'
relative\t'`[+12.3s]` since the command started'
none\t'No timestamp'"
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l context -d 'Named context from the config file: its server and API key (overrides current-context)' -r
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l config -d 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l certificate-authority -d 'PEM file of the certificate authorities to trust for an https server, instead of the system\'s' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -s w -l watch -d 'Watch the deployment and exit with its outcome'
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l all -d 'Also show internal events (stream bookkeeping, unknown event types)'
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l local -d 'Run against a throwaway in-process server (in-memory store); implies --watch'
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -s q -l quiet -d 'Print only the essential output (event lines or JSON); no banners or notes'
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -l insecure-skip-tls-verify -d 'Do not check the https server\'s certificate (insecure: for test servers only; warns on every run)'
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l deployment -d 'Follow this deployment to its end and exit with its outcome' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l since -d 'Start after this event id, replaying what came after it (on servers that keep events): an integer (ctl server; innominatus\' nanosecond ids) or nchan\'s TIME:TAG' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l timeout -d 'Stop watching after this long, e.g. 90s, 10m (exit code 3); no limit by default' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l idle-timeout -d 'Declare the event stream dead after this long without a byte (keep-alives count), and reconnect; keep it above the server\'s keep-alive interval (15s on ctl server, 30s on innominatus)' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l retry-budget -d 'Keep reconnecting a lost event stream for this long before giving up (exit code 5); a stream back within it resumes where it left off' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l max-event-size -d 'Skip (with a note on stderr) any event larger than this, e.g. 1MiB, 256KiB, 4MiB (a bare number means bytes; at least 1KiB)' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l server -d 'Platform server base URL [default: http://localhost:8081]' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l api-key -d 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -s o -l output -d 'Output format: human-readable text, or one JSON object per line on stdout' -r -f -a "text\t'Timestamped lines with icons, for people'
json\t'One JSON object per line (NDJSON), for scripts'
wide\t'Text with more columns (`ctl list`, `ctl status`); other commands treat it as text'"
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb'
always\t'Always colour'
never\t'Never colour'"
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l icons -d 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)' -r -f -a "auto\t'Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set'
unicode\t'Always emoji'
ascii\t'Always plain ASCII markers'"
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l timestamps -d 'Timestamp column of event lines' -r -f -a "local\t'`[15:04:01]` in local time'
utc\t'`[14:04:01]` in UTC'
relative\t'`[+12.3s]` since the command started'
none\t'No timestamp'"
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l context -d 'Named context from the config file: its server and API key (overrides current-context)' -r
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l config -d 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l certificate-authority -d 'PEM file of the certificate authorities to trust for an https server, instead of the system\'s' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l follow -d 'Show the app\'s events as they come, later deployments included, until Ctrl-C (exit 0) or --timeout, instead of following one deployment to its end'
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l all -d 'Also show internal events (stream bookkeeping, unknown event types)'
complete -c ctl -n "__fish_ctl_using_subcommand watch" -s q -l quiet -d 'Print only the essential output (event lines or JSON); no banners or notes'
complete -c ctl -n "__fish_ctl_using_subcommand watch" -l insecure-skip-tls-verify -d 'Do not check the https server\'s certificate (insecure: for test servers only; warns on every run)'
complete -c ctl -n "__fish_ctl_using_subcommand watch" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ctl -n "__fish_ctl_using_subcommand status" -l server -d 'Platform server base URL [default: http://localhost:8081]' -r
complete -c ctl -n "__fish_ctl_using_subcommand status" -l api-key -d 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)' -r
complete -c ctl -n "__fish_ctl_using_subcommand status" -s o -l output -d 'Output format: human-readable text, or one JSON object per line on stdout' -r -f -a "text\t'Timestamped lines with icons, for people'
json\t'One JSON object per line (NDJSON), for scripts'
wide\t'Text with more columns (`ctl list`, `ctl status`); other commands treat it as text'"
complete -c ctl -n "__fish_ctl_using_subcommand status" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb'
always\t'Always colour'
never\t'Never colour'"
complete -c ctl -n "__fish_ctl_using_subcommand status" -l icons -d 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)' -r -f -a "auto\t'Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set'
unicode\t'Always emoji'
ascii\t'Always plain ASCII markers'"
complete -c ctl -n "__fish_ctl_using_subcommand status" -l timestamps -d 'Timestamp column of event lines' -r -f -a "local\t'`[15:04:01]` in local time'
utc\t'`[14:04:01]` in UTC'
relative\t'`[+12.3s]` since the command started'
none\t'No timestamp'"
complete -c ctl -n "__fish_ctl_using_subcommand status" -l context -d 'Named context from the config file: its server and API key (overrides current-context)' -r
complete -c ctl -n "__fish_ctl_using_subcommand status" -l config -d 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand status" -l certificate-authority -d 'PEM file of the certificate authorities to trust for an https server, instead of the system\'s' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand status" -s q -l quiet -d 'Print only the essential output (event lines or JSON); no banners or notes'
complete -c ctl -n "__fish_ctl_using_subcommand status" -l insecure-skip-tls-verify -d 'Do not check the https server\'s certificate (insecure: for test servers only; warns on every run)'
complete -c ctl -n "__fish_ctl_using_subcommand status" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ctl -n "__fish_ctl_using_subcommand list" -l server -d 'Platform server base URL [default: http://localhost:8081]' -r
complete -c ctl -n "__fish_ctl_using_subcommand list" -l api-key -d 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)' -r
complete -c ctl -n "__fish_ctl_using_subcommand list" -s o -l output -d 'Output format: human-readable text, or one JSON object per line on stdout' -r -f -a "text\t'Timestamped lines with icons, for people'
json\t'One JSON object per line (NDJSON), for scripts'
wide\t'Text with more columns (`ctl list`, `ctl status`); other commands treat it as text'"
complete -c ctl -n "__fish_ctl_using_subcommand list" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb'
always\t'Always colour'
never\t'Never colour'"
complete -c ctl -n "__fish_ctl_using_subcommand list" -l icons -d 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)' -r -f -a "auto\t'Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set'
unicode\t'Always emoji'
ascii\t'Always plain ASCII markers'"
complete -c ctl -n "__fish_ctl_using_subcommand list" -l timestamps -d 'Timestamp column of event lines' -r -f -a "local\t'`[15:04:01]` in local time'
utc\t'`[14:04:01]` in UTC'
relative\t'`[+12.3s]` since the command started'
none\t'No timestamp'"
complete -c ctl -n "__fish_ctl_using_subcommand list" -l context -d 'Named context from the config file: its server and API key (overrides current-context)' -r
complete -c ctl -n "__fish_ctl_using_subcommand list" -l config -d 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand list" -l certificate-authority -d 'PEM file of the certificate authorities to trust for an https server, instead of the system\'s' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand list" -s q -l quiet -d 'Print only the essential output (event lines or JSON); no banners or notes'
complete -c ctl -n "__fish_ctl_using_subcommand list" -l insecure-skip-tls-verify -d 'Do not check the https server\'s certificate (insecure: for test servers only; warns on every run)'
complete -c ctl -n "__fish_ctl_using_subcommand list" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l timeout -d 'With --watch: stop waiting after this long (exit code 3)' -r
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l server -d 'Platform server base URL [default: http://localhost:8081]' -r
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l api-key -d 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)' -r
complete -c ctl -n "__fish_ctl_using_subcommand delete" -s o -l output -d 'Output format: human-readable text, or one JSON object per line on stdout' -r -f -a "text\t'Timestamped lines with icons, for people'
json\t'One JSON object per line (NDJSON), for scripts'
wide\t'Text with more columns (`ctl list`, `ctl status`); other commands treat it as text'"
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb'
always\t'Always colour'
never\t'Never colour'"
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l icons -d 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)' -r -f -a "auto\t'Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set'
unicode\t'Always emoji'
ascii\t'Always plain ASCII markers'"
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l timestamps -d 'Timestamp column of event lines' -r -f -a "local\t'`[15:04:01]` in local time'
utc\t'`[14:04:01]` in UTC'
relative\t'`[+12.3s]` since the command started'
none\t'No timestamp'"
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l context -d 'Named context from the config file: its server and API key (overrides current-context)' -r
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l config -d 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l certificate-authority -d 'PEM file of the certificate authorities to trust for an https server, instead of the system\'s' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand delete" -s w -l watch -d 'Watch the teardown: wait for the server\'s `application.deleted` event'
complete -c ctl -n "__fish_ctl_using_subcommand delete" -s q -l quiet -d 'Print only the essential output (event lines or JSON); no banners or notes'
complete -c ctl -n "__fish_ctl_using_subcommand delete" -l insecure-skip-tls-verify -d 'Do not check the https server\'s certificate (insecure: for test servers only; warns on every run)'
complete -c ctl -n "__fish_ctl_using_subcommand delete" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ctl -n "__fish_ctl_using_subcommand validate" -s o -l output -d 'Output format: human-readable text, or one JSON object per line on stdout' -r -f -a "text\t'Timestamped lines with icons, for people'
json\t'One JSON object per line (NDJSON), for scripts'
wide\t'Text with more columns (`ctl list`, `ctl status`); other commands treat it as text'"
complete -c ctl -n "__fish_ctl_using_subcommand validate" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb'
always\t'Always colour'
never\t'Never colour'"
complete -c ctl -n "__fish_ctl_using_subcommand validate" -l icons -d 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)' -r -f -a "auto\t'Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set'
unicode\t'Always emoji'
ascii\t'Always plain ASCII markers'"
complete -c ctl -n "__fish_ctl_using_subcommand validate" -l timestamps -d 'Timestamp column of event lines' -r -f -a "local\t'`[15:04:01]` in local time'
utc\t'`[14:04:01]` in UTC'
relative\t'`[+12.3s]` since the command started'
none\t'No timestamp'"
complete -c ctl -n "__fish_ctl_using_subcommand validate" -s q -l quiet -d 'Print only the essential output (event lines or JSON); no banners or notes'
complete -c ctl -n "__fish_ctl_using_subcommand validate" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ctl -n "__fish_ctl_using_subcommand completion" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand completion" -s h -l help -d 'Print help'
complete -c ctl -n "__fish_ctl_using_subcommand man" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand man" -s h -l help -d 'Print help'
complete -c ctl -n "__fish_ctl_using_subcommand server" -l listen -d 'Address to listen on (HOST:PORT). Port 0 picks a free port; the address actually bound is printed to stderr as `listening on http://ADDR` (`https://` with --tls-cert)' -r
complete -c ctl -n "__fish_ctl_using_subcommand server" -l data-dir -d 'Directory of the server\'s database [default: the per-user data directory, e.g. ~/.local/share/ctl]' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand server" -l providers -d 'Provider catalogue (YAML) to use instead of the built-in one' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand server" -l key -d 'API key for team `default` (repeatable). Without any key the server accepts every same-origin request and listens on loopback addresses only. (`--api-key` is the client\'s option.)' -r
complete -c ctl -n "__fish_ctl_using_subcommand server" -l api-keys-file -d 'YAML file of API keys and their teams: `keys: [{key: KEY, team: TEAM}, ...]`. A team sees and deploys only its own applications' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand server" -l keepalive -d 'Interval of keep-alive comments on event streams (e.g. 15s, 500ms)' -r
complete -c ctl -n "__fish_ctl_using_subcommand server" -l retention -d 'Keep at most N events, deleting the oldest. A stream resuming from before the oldest kept event gets one `stream.gap` event' -r
complete -c ctl -n "__fish_ctl_using_subcommand server" -l tls-cert -d 'Serve HTTPS with this PEM certificate chain (the server\'s certificate first); needs --tls-key' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand server" -l tls-key -d 'The PEM private key of --tls-cert' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand server" -l header-timeout -d 'A connection must send a whole request head within this time of connecting (after the TLS handshake), and a kept-alive one within this time of its previous response; otherwise it is closed' -r
complete -c ctl -n "__fish_ctl_using_subcommand server" -l body-timeout -d 'A request body must arrive whole within this time of its head; a slower one is answered 408 and its connection closed' -r
complete -c ctl -n "__fish_ctl_using_subcommand server" -l max-connections -d 'At most N open connections that are not event streams; more are answered 503 and closed at once. Lowered, with a warning, to fit the open-file limit' -r
complete -c ctl -n "__fish_ctl_using_subcommand server" -l max-streams -d 'At most N event streams at once; more are answered 503. Lowered, with a warning, to fit the open-file limit' -r
complete -c ctl -n "__fish_ctl_using_subcommand server" -l in-memory -d 'Keep everything in memory; nothing survives a restart'
complete -c ctl -n "__fish_ctl_using_subcommand server" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand server" -s h -l help -d 'Print help'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l server -d 'Platform server base URL [default: http://localhost:8081]' -r
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l api-key -d 'API key sent as `Authorization: Bearer` (falls back to IDP_API_KEY)' -r
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -s o -l output -d 'Output format: human-readable text, or one JSON object per line on stdout' -r -f -a "text\t'Timestamped lines with icons, for people'
json\t'One JSON object per line (NDJSON), for scripts'
wide\t'Text with more columns (`ctl list`, `ctl status`); other commands treat it as text'"
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l color -d 'When to use colour' -r -f -a "auto\t'Colour when writing to a terminal, unless NO_COLOR is set or TERM=dumb'
always\t'Always colour'
never\t'Never colour'"
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l icons -d 'Line markers: emoji, or plain ASCII such as `[ok]` (auto: ASCII under a non-UTF-8 locale)' -r -f -a "auto\t'Emoji, unless the locale (LC_ALL, LC_CTYPE, LANG) names a non-UTF-8 character set'
unicode\t'Always emoji'
ascii\t'Always plain ASCII markers'"
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l timestamps -d 'Timestamp column of event lines' -r -f -a "local\t'`[15:04:01]` in local time'
utc\t'`[14:04:01]` in UTC'
relative\t'`[+12.3s]` since the command started'
none\t'No timestamp'"
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l context -d 'Named context from the config file: its server and API key (overrides current-context)' -r
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l config -d 'Config file [default: $XDG_CONFIG_HOME/ctl/config.yaml, i.e. ~/.config/ctl/config.yaml]' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l certificate-authority -d 'PEM file of the certificate authorities to trust for an https server, instead of the system\'s' -r -F
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -s q -l quiet -d 'Print only the essential output (event lines or JSON); no banners or notes'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -l insecure-skip-tls-verify -d 'Do not check the https server\'s certificate (insecure: for test servers only; warns on every run)'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -f -a "current-context" -d 'Print the config file\'s current-context'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -f -a "get-contexts" -d 'List the config file\'s contexts (-o json for scripts)'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -f -a "use-context" -d 'Set the config file\'s current-context, keeping the rest of the file as written'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -f -a "view" -d 'Print the config file, with every literal api-key redacted'
complete -c ctl -n "__fish_ctl_using_subcommand config; and not __fish_seen_subcommand_from current-context get-contexts use-context view help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from current-context" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from current-context" -s h -l help -d 'Print help'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from get-contexts" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from get-contexts" -s h -l help -d 'Print help'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from use-context" -s h -l help -d 'Print help'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from view" -s v -l verbose -d 'More detail: event ids, providers and data; repeat (-vv) for full error chains'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from view" -s h -l help -d 'Print help'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "current-context" -d 'Print the config file\'s current-context'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "get-contexts" -d 'List the config file\'s contexts (-o json for scripts)'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "use-context" -d 'Set the config file\'s current-context, keeping the rest of the file as written'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "view" -d 'Print the config file, with every literal api-key redacted'
complete -c ctl -n "__fish_ctl_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "deploy" -d 'Submit a Score spec to the platform server, and optionally watch it deploy'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "watch" -d 'Follow an application\'s events, or one deployment to its end'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "status" -d 'Show an application: its latest deployment and its resources'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "list" -d 'List applications (-o wide for more columns, -o json for scripts)'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "delete" -d 'Delete an application and its resources, optionally watching the teardown'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "validate" -d 'Check Score spec files locally, without a server (exit 0 if valid, 2 if not)'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "completion" -d 'Print a shell completion script to stdout'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "man" -d 'Print the man page (roff) to stdout'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "server" -d 'Run the bundled reference platform server'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "config" -d 'Show the config file\'s contexts, or switch the current one'
complete -c ctl -n "__fish_ctl_using_subcommand help; and not __fish_seen_subcommand_from deploy watch status list delete validate completion man server config help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ctl -n "__fish_ctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "current-context" -d 'Print the config file\'s current-context'
complete -c ctl -n "__fish_ctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "get-contexts" -d 'List the config file\'s contexts (-o json for scripts)'
complete -c ctl -n "__fish_ctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "use-context" -d 'Set the config file\'s current-context, keeping the rest of the file as written'
complete -c ctl -n "__fish_ctl_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "view" -d 'Print the config file, with every literal api-key redacted'
