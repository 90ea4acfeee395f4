using System.Text.RegularExpressions;

namespace Feed.Infrastructure.Logging;

/// <summary>
/// Replaces the values of URL query parameters with <see cref="Marker"/>, keeping their names:
/// <c>/v1/digests/unsubscribe?token=42.mac&amp;x=1</c> becomes
/// <c>/v1/digests/unsubscribe?token=[redacted]&amp;x=[redacted]</c>. Every value goes, not a list of
/// known secret names, so a parameter added later cannot leak by being forgotten here.
/// </summary>
/// <remarks>
/// Works on a bare query string (<c>?a=1</c>) and on free text holding a URL or a request line
/// (Kestrel's bad-request messages). A value runs from the <c>=</c> after a name that follows
/// <c>?</c> or <c>&amp;</c> to the next <c>&amp;</c>, <c>#</c> or whitespace. Thread-safe.
/// </remarks>
internal static partial class QueryRedaction
{
    public const string Marker = "[redacted]";

    /// <summary>The text with every query parameter value replaced; the same instance when there is none.</summary>
    public static string Redact(string text) =>
        MayHoldQuery(text) ? QueryValue().Replace(text, Marker) : text;

    /// <summary>Whether <see cref="Redact"/> would change the text.</summary>
    public static bool HoldsQueryValue(string text) => MayHoldQuery(text) && QueryValue().IsMatch(text);

    // The cheap test first: most log values hold neither '=' nor a query's '?' or '&'.
    private static bool MayHoldQuery(string text) =>
        text.Contains('=') && text.AsSpan().IndexOfAny('?', '&') >= 0;

    [GeneratedRegex(@"(?<=[?&][^?&#=\s]*=)[^&#\s]+", RegexOptions.CultureInvariant)]
    private static partial Regex QueryValue();
}
