using System.Globalization;
using System.Net;
using System.Text;
using MailKit.Net.Smtp;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Feed.Digests;

/// <summary>
/// Renders a digest as an email (multipart/alternative: plain text and HTML) and hands it to the
/// configured SMTP server with MailKit. Every email carries a one-click unsubscribe link, also as
/// <c>List-Unsubscribe</c> with <c>List-Unsubscribe-Post: List-Unsubscribe=One-Click</c> (RFC 8058),
/// and a Message-ID fixed per digest row, so a retried send after a crash can be recognised as a
/// duplicate by mail systems that deduplicate.
/// </summary>
/// <remarks>
/// One SMTP connection per email: a digest job sends one message, and a relay in front of the
/// real mail system (which also DKIM-signs, as RFC 8058 requires of one-click senders) is the place
/// for connection reuse. Thread-safe.
/// </remarks>
public sealed class DigestMailer(IOptions<DigestOptions> options, UnsubscribeTokens tokens)
{
    private readonly DigestOptions _options = options.Value;

    /// <summary>The one-click unsubscribe URL for a user (the same URL serves GET, a confirmation page, and POST).</summary>
    public string UnsubscribeUrl(long userId) =>
        $"{_options.PublicBaseUrl.TrimEnd('/')}/v1/digests/unsubscribe?token={Uri.EscapeDataString(tokens.Issue(userId))}";

    public MimeMessage Render(long digestId, DigestRecipient recipient, DigestContent content)
    {
        ArgumentNullException.ThrowIfNull(recipient.Email);
        var zone = TimeZoneInfo.FindSystemTimeZoneById(recipient.TimeZone);
        var unsubscribe = UnsubscribeUrl(recipient.UserId);
        var from = MailboxAddress.Parse(_options.From);
        var message = new MimeMessage
        {
            Subject = Subject(recipient.Frequency, content.Total),
            MessageId = $"digest-{digestId.ToString(CultureInfo.InvariantCulture)}@{from.Domain}",
        };
        message.From.Add(from);
        message.To.Add(new MailboxAddress(recipient.DisplayName, recipient.Email));
        message.Headers.Add("List-Unsubscribe", $"<{unsubscribe}>");
        message.Headers.Add("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
        message.Headers.Add("Auto-Submitted", "auto-generated");
        message.Body = new BodyBuilder
        {
            TextBody = Text(recipient, content, zone, unsubscribe),
            HtmlBody = Html(recipient, content, zone, unsubscribe),
        }.ToMessageBody();
        return message;
    }

    /// <summary>Sends one message; throws if the server did not accept it (the caller retries).</summary>
    public async Task SendAsync(MimeMessage message, CancellationToken ct)
    {
        var smtp = _options.Smtp;
        using var client = new SmtpClient { Timeout = (int)smtp.Timeout.TotalMilliseconds };
        await client.ConnectAsync(smtp.Host, smtp.Port, smtp.Security, ct);
        if (!string.IsNullOrEmpty(smtp.User))
        {
            await client.AuthenticateAsync(smtp.User, smtp.Password ?? "", ct);
        }
        await client.SendAsync(message, ct);
        await client.DisconnectAsync(quit: true, ct);
    }

    internal static string Subject(DigestFrequency frequency, int total) =>
        string.Create(CultureInfo.InvariantCulture,
            $"Your {(frequency == DigestFrequency.Weekly ? "weekly" : "daily")} digest: {total} new {(total == 1 ? "post" : "posts")} from people you follow");

    private static string Text(DigestRecipient recipient, DigestContent content, TimeZoneInfo zone, string unsubscribe)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Hi {recipient.DisplayName},\n\n");
        text.Append(CultureInfo.InvariantCulture, $"Here is what you missed since {LocalTime(recipient.Since, zone)}:\n\n");
        foreach (var post in content.Posts)
        {
            text.Append(CultureInfo.InvariantCulture, $"{post.AuthorDisplayName} (@{post.AuthorHandle}) · {LocalTime(post.CreatedAt, zone)}\n");
            text.Append(post.Body).Append("\n\n");
        }
        if (content.NotShown > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"…and {More(content.NotShown)} in your feed.\n\n");
        }
        text.Append("--\nYou get this email because you turned on digests in your Feed settings.\n");
        text.Append(CultureInfo.InvariantCulture, $"Unsubscribe: {unsubscribe}\n");
        return text.ToString();
    }

    private static string Html(DigestRecipient recipient, DigestContent content, TimeZoneInfo zone, string unsubscribe)
    {
        static string E(string s) => WebUtility.HtmlEncode(s);
        var html = new StringBuilder();
        html.Append("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Your Feed digest</title></head>");
        html.Append("<body style=\"font-family:system-ui,sans-serif;max-width:600px;margin:0 auto;padding:16px;color:#1a1a1a\">");
        html.Append(CultureInfo.InvariantCulture, $"<p>Hi {E(recipient.DisplayName)},</p>");
        html.Append(CultureInfo.InvariantCulture, $"<p>Here is what you missed since {E(LocalTime(recipient.Since, zone))}:</p>");
        foreach (var post in content.Posts)
        {
            html.Append(CultureInfo.InvariantCulture, $"<div class=\"post\" data-post-id=\"{post.Id}\" style=\"border-top:1px solid #ddd;padding:12px 0\">");
            html.Append(CultureInfo.InvariantCulture,
                $"<div style=\"color:#555;font-size:14px\"><strong>{E(post.AuthorDisplayName)}</strong> @{E(post.AuthorHandle)} · {E(LocalTime(post.CreatedAt, zone))}</div>");
            html.Append(CultureInfo.InvariantCulture, $"<p style=\"white-space:pre-wrap;margin:6px 0 0\">{E(post.Body)}</p></div>");
        }
        if (content.NotShown > 0)
        {
            html.Append(CultureInfo.InvariantCulture, $"<p class=\"more\" style=\"border-top:1px solid #ddd;padding-top:12px\">…and {More(content.NotShown)} in your feed.</p>");
        }
        html.Append("<p style=\"color:#777;font-size:12px;margin-top:24px\">You get this email because you turned on digests in your Feed settings. ");
        html.Append(CultureInfo.InvariantCulture, $"<a href=\"{E(unsubscribe)}\">Unsubscribe</a></p>");
        html.Append("</body></html>");
        return html.ToString();
    }

    private static string More(int count) => count == 1 ? "1 more post" : string.Create(CultureInfo.InvariantCulture, $"{count} more posts");

    private static string LocalTime(DateTimeOffset at, TimeZoneInfo zone) =>
        TimeZoneInfo.ConvertTime(at, zone).ToString("d MMM HH:mm", CultureInfo.InvariantCulture);
}
