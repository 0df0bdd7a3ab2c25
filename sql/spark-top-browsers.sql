-- The browsers that press most, over select_color (either definition).
SELECT ua.browser.family AS browser, count(*) AS presses
FROM select_color
GROUP BY ua.browser.family
ORDER BY presses DESC, browser
LIMIT 10;
