using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Feed.Infrastructure.Postgres.Migrations
{
    /// <inheritdoc />
    public partial class GraphMaintenance : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<bool>(
                name: "merge_timeline",
                table: "users",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            // Existing celebrities keep being merged at read time.
            migrationBuilder.Sql("UPDATE users SET merge_timeline = is_celebrity;");

            migrationBuilder.AlterColumn<long>(
                name: "post_id",
                table: "outbox",
                type: "bigint",
                nullable: true,
                oldClrType: typeof(long),
                oldType: "bigint");

            migrationBuilder.AddColumn<long>(
                name: "target_user_id",
                table: "outbox",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "user_id",
                table: "outbox",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddCheckConstraint(
                name: "ck_outbox_subject",
                table: "outbox",
                sql: "(kind IN (1, 2) AND post_id IS NOT NULL) OR (kind IN (3, 4) AND user_id IS NOT NULL AND target_user_id IS NOT NULL) OR (kind = 5 AND user_id IS NOT NULL)");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropCheckConstraint(
                name: "ck_outbox_subject",
                table: "outbox");

            migrationBuilder.DropColumn(
                name: "merge_timeline",
                table: "users");

            migrationBuilder.DropColumn(
                name: "target_user_id",
                table: "outbox");

            migrationBuilder.DropColumn(
                name: "user_id",
                table: "outbox");

            migrationBuilder.AlterColumn<long>(
                name: "post_id",
                table: "outbox",
                type: "bigint",
                nullable: false,
                defaultValue: 0L,
                oldClrType: typeof(long),
                oldType: "bigint",
                oldNullable: true);
        }
    }
}
