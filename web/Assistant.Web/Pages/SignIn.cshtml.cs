using Assistant.Web.Gateway;
using Assistant.Web.SignIn;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages;

public sealed class SignInModel(PlatformApi api) : PageModel
{
    [BindProperty]
    public string? Key { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Reason { get; set; }

    public string? Error { get; private set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        var key = Key?.Trim() ?? "";
        if (key.Length == 0)
        {
            Error = "Enter an API key.";
            return Page();
        }
        if (!key.All(c => c is > ' ' and <= '~'))
        {
            Error = "An API key is one word of printable characters, with no spaces.";
            return Page();
        }
        var refusal = await api.CheckKeyAsync(key, ct);
        if (refusal is not null)
        {
            Error = refusal.Status is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden
                ? $"This key was refused by the gateway: {refusal.Detail}"
                : $"The key could not be checked: {refusal.Detail}";
            return Page();
        }
        await HttpContext.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, ApiKeySignIn.Principal(key));
        return LocalRedirect(ReturnUrl is { Length: > 0 } url && Url.IsLocalUrl(url) ? url : "/");
    }

    public async Task<IActionResult> OnPostSignOutAsync()
    {
        await HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return RedirectToPage(new { reason = "signed-out" });
    }
}
